"""The on-disk image cache and the folder scan: reuse, invalidation, atomic builds, on-disk
views, FIFOs and unreadable files/folders (issue 11 items 5 and 9)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from workbench.data import DataError, load_dataset
from workbench.data import cache as cache_mod
from workbench.data.resize import resize_square
from workbench.data import folder as folder_mod
from workbench.data.cache import BuildCancelled, cache_root, stored_size
from workbench.data.store import ImageRows
from workbench.embeddings import compute_embeddings


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_WORKBENCH_CACHE", str(tmp_path / "cache"))


def _png(path: Path, colour, size=(24, 20)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _tree(root: Path, per_class: int = 6) -> Path:
    for c, colour in (("cat", (250, 0, 0)), ("dog", (0, 0, 250)), ("eel", (0, 250, 0))):
        for i in range(per_class):
            _png(root / c / f"{i}.png", (colour[0], colour[1] + 9 * i, colour[2]))
    return root


def _entries() -> list[Path]:
    return sorted(p for p in cache_root().iterdir())


def test_cache_is_built_once_stored_larger_and_reused(tmp_path):
    root = _tree(tmp_path / "imgs")
    calls = []
    ds = load_dataset("folder", root=str(root), image_size=20, progress=calls.append)
    assert isinstance(ds.x_train, ImageRows) and ds.spec.input_shape == (3, 20, 20)
    assert ds.x_train.stored_size == stored_size(20) == 23  # 1.15x, so crops are not upscaled
    assert calls and calls[-1] == 1.0
    [entry] = _entries()
    built = (entry / "manifest.json").stat().st_mtime_ns
    again = load_dataset("folder", root=str(root), image_size=20)
    assert (entry / "manifest.json").stat().st_mtime_ns == built and _entries() == [entry]
    assert torch.equal(again.x_test[:], ds.x_test[:])


def test_cache_is_rebuilt_when_the_folder_changes(tmp_path):
    root = _tree(tmp_path / "imgs")
    first = load_dataset("folder", root=str(root), image_size=16)
    _png(root / "cat" / "new.png", (1, 2, 3))
    second = load_dataset("folder", root=str(root), image_size=16)
    assert second.spec.train_size + second.spec.test_size == first.spec.train_size + first.spec.test_size + 1
    # a file replaced in place (same name, new content and mtime) is seen too
    _png(root / "cat" / "0.png", (9, 9, 9), size=(30, 30))
    os.utime(root / "cat" / "0.png", ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    third = load_dataset("folder", root=str(root), image_size=16)
    rows = torch.cat([third.x_train[:], third.x_test[:]])
    assert (rows.float().mean((1, 2, 3)) - 9).abs().min() < 0.5  # the grey image is now in the cache
    assert len(_entries()) == 1  # the out-of-date entry was replaced, not kept beside it


def test_a_killed_build_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    root = _tree(tmp_path / "imgs", per_class=100)
    real = folder_mod._decode
    seen = []

    def dies_midway(path, size):
        seen.append(path)
        if len(seen) == 150:
            raise KeyboardInterrupt  # as a Ctrl-C or kill would stop the build
        return real(path, size)

    monkeypatch.setattr(folder_mod, "_decode", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        load_dataset("folder", root=str(root), image_size=16)
    assert _entries() == []  # neither a final entry nor a temporary one
    monkeypatch.setattr(folder_mod, "_decode", real)
    assert load_dataset("folder", root=str(root), image_size=16).spec.train_size == 240


def test_cancel_stops_a_build_and_removes_it(tmp_path):
    root = _tree(tmp_path / "imgs", per_class=100)
    with pytest.raises(BuildCancelled, match="stopped while building"):
        load_dataset("folder", root=str(root), image_size=16, cancel=lambda: True)
    assert _entries() == []
    assert isinstance(BuildCancelled(), DataError)  # the worker reports it as one clear line


def test_stale_temporary_builds_are_cleaned(tmp_path):
    root = _tree(tmp_path / "imgs")
    final = cache_mod.entry_dir("folder", str(root.resolve()), f"{stored_size(16)}px")
    final.parent.mkdir(parents=True)
    stale = final.with_name(f"{final.name}.tmp-999999999-1")  # a pid that cannot be alive
    stale.mkdir()
    load_dataset("folder", root=str(root), image_size=16)
    assert not stale.exists() and final.exists()


def test_cache_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_WORKBENCH_CACHE", str(tmp_path / "elsewhere"))
    assert cache_root() == tmp_path / "elsewhere"
    monkeypatch.delenv("SSL_WORKBENCH_CACHE")
    assert cache_root() == Path("~/.cache/ssl-workbench/cache").expanduser()


def test_image_rows_index_like_a_tensor(tmp_path):
    ds = load_dataset("folder", root=str(_tree(tmp_path / "imgs")), image_size=12)
    x, full = ds.x_train, ds.x_train[:]
    assert full.shape == x.shape == (len(x), 3, 12, 12) and full.dtype == torch.uint8
    assert torch.equal(x[3], full[3]) and torch.equal(x[-1], full[-1])
    assert torch.equal(x[2:7], full[2:7])
    idx = torch.tensor([5, 0, 5, 9, 1])  # unsorted, with a repeat: order kept
    assert torch.equal(x[idx], full[idx]) and torch.equal(x[idx.numpy()], full[idx])
    assert torch.equal(x[[1, 2]], full[[1, 2]])
    assert x.raw([0]).shape == (1, 3, stored_size(12), stored_size(12))


def test_embeddings_read_on_disk_rows_in_blocks(tmp_path):
    ds = load_dataset("folder", root=str(_tree(tmp_path / "imgs")), image_size=12)
    reads = []
    real = ds.x_train.store.read
    ds.x_train.store.read = lambda rows, out=None: reads.append(len(rows)) or real(rows, out)
    embed = lambda xb: xb.flatten(1)[:, :5] * 2  # noqa: E731
    got = compute_embeddings(embed, ds.x_train, batch_size=4)
    assert reads and max(reads) <= 4  # never the whole split at once
    np.testing.assert_array_equal(got, compute_embeddings(embed, ds.x_train[:], batch_size=4))


def test_torchvision_and_shapes120k_come_from_the_cache(monkeypatch):
    import workbench.data as data
    from workbench.data import shapes

    monkeypatch.setattr(shapes, "LARGE_TRAIN_SIZE", 300)
    monkeypatch.setattr(shapes, "LARGE_TEST_SIZE", 100)
    monkeypatch.setattr(data, "_CACHE", {})
    ds = load_dataset("shapes120k")
    assert isinstance(ds.x_train, ImageRows) and ds.spec.train_size == 300
    drawn = shapes.load_shapes_large()
    assert torch.equal(ds.x_test[:], drawn.x_test) and np.array_equal(ds.factors_test["x"], drawn.factors_test["x"])
    monkeypatch.setattr(shapes, "load_shapes_large", lambda: pytest.fail("drawn again instead of read"))
    monkeypatch.setattr(data, "_CACHE", {})
    assert torch.equal(load_dataset("shapes120k", image_size=16).x_train[:4],
                       resize_square(drawn.x_train[:4], 16))


# --- issue 11 item 5: a FIFO in an image folder ----------------------------------------------

def test_scan_reads_regular_files_only(tmp_path):
    _tree(tmp_path)
    os.mkfifo(tmp_path / "cat" / "pipe.png")
    files = [rel for rel, _, _ in folder_mod.scan_images(tmp_path).files]
    assert "cat/pipe.png" not in files and "cat/0.png" in files
    assert folder_mod._decode(tmp_path / "cat" / "pipe.png", 8) is None  # returns, never blocks


@pytest.mark.timeout(60)
def test_a_fifo_in_the_folder_does_not_hang_loading(tmp_path):
    _tree(tmp_path / "imgs")
    os.mkfifo(tmp_path / "imgs" / "dog" / "stuck.jpg")
    code = ("import sys; from workbench.data import load_dataset; "
            "ds = load_dataset('folder', root=sys.argv[1], image_size=8); print(ds.spec.train_size)")
    env = {**os.environ, "SSL_WORKBENCH_CACHE": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "imgs")], capture_output=True,
                         text=True, timeout=45, env=env)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == 15


# --- issue 11 item 9: labels and unreadable parts of a folder --------------------------------

def test_a_stray_unreadable_file_at_the_root_keeps_the_labels(tmp_path):
    _tree(tmp_path)
    (tmp_path / "Thumbs.jpg").write_bytes(b"not an image")
    _png(tmp_path / "stray.png", (7, 7, 7))
    ds = load_dataset("folder", root=str(tmp_path), image_size=8)
    assert ds.spec.class_names == ["cat", "dog", "eel"] and (ds.y_train >= 0).all()
    assert ds.spec.train_size + ds.spec.test_size == 18
    assert ds.skipped_count == 2
    assert any(s.endswith("Thumbs.jpg") for s in ds.skipped)
    assert any("stray.png" in s and "not in a class folder" in s for s in ds.skipped)


def test_an_unreadable_class_folder_is_reported(tmp_path, monkeypatch):
    _tree(tmp_path)
    real = os.scandir

    def scandir(path="."):
        if Path(path).name == "dog":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(folder_mod.os, "scandir", scandir)
    ds = load_dataset("folder", root=str(tmp_path), image_size=8)
    assert ds.spec.class_names == ["cat", "eel"]
    assert ds.skipped_count == 1 and "dog" in ds.skipped[0] and "permission denied" in ds.skipped[0]


def test_an_unreadable_root_says_permission_denied(tmp_path, monkeypatch):
    _tree(tmp_path)

    def scandir(path="."):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(folder_mod.os, "scandir", scandir)
    with pytest.raises(DataError, match="permission denied"):
        load_dataset("folder", root=str(tmp_path), image_size=8)


def test_explorer_thumbnails_are_read_one_at_a_time(tmp_path):
    from workbench.explore import images_hwc, thumbnails

    ds = load_dataset("folder", root=str(_tree(tmp_path / "imgs")), image_size=12)
    idx = np.array([2, 0, 1])
    reads = []
    real = ds.x_test.store.read
    ds.x_test.store.read = lambda rows, out=None: reads.append(len(rows)) or real(rows, out)
    tiles = thumbnails(ds.x_test, idx)
    assert reads == [] and tiles.shape == (3, 12, 12, 3)
    np.testing.assert_array_equal(tiles[1], images_hwc(ds.x_test[[0]])[0])
    np.testing.assert_array_equal(np.asarray(tiles), images_hwc(ds.x_test[idx]))


def test_large_reads_are_resized_block_by_block(tmp_path, monkeypatch):
    from workbench.data import store

    ds = load_dataset("folder", root=str(_tree(tmp_path / "imgs")), image_size=12)
    whole = ds.x_train[:]
    monkeypatch.setattr(store, "_READ_BLOCK", 4)
    reads = []
    real = ds.x_train.store.read
    ds.x_train.store.read = lambda rows, out=None: reads.append(len(rows)) or real(rows, out)
    assert torch.equal(ds.x_train[:], whole) and max(reads) == 4 and sum(reads) == len(whole)
