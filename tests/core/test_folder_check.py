"""An image folder is checked when chosen: missing, a file, empty, too few or unreadable images each get one line."""
from __future__ import annotations

import numpy as np
from PIL import Image

from workbench.folder_check import image_folder_problem


def _png(path, value=128):
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)


def test_problems_are_named(tmp_path):
    assert "does not exist" in image_folder_problem(tmp_path / "nope")
    (tmp_path / "a.txt").write_text("x")
    assert "not a folder" in image_folder_problem(tmp_path / "a.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no images" in image_folder_problem(empty)
    two = tmp_path / "two"
    two.mkdir()
    _png(two / "1.png")
    _png(two / "2.png")
    assert "holds 2 images" in image_folder_problem(two)
    broken = tmp_path / "broken"
    broken.mkdir()
    for i in range(4):
        (broken / f"{i}.png").write_bytes(b"not a png")
    assert "could be opened" in image_folder_problem(broken)


def test_a_folder_of_images_passes(tmp_path):
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            _png(tmp_path / cls / f"{i}.png", 40 * i)
    assert image_folder_problem(tmp_path) is None
