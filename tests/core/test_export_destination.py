"""Where an export may write: never a run's own files, never through a link or into a device, --force to replace."""
from __future__ import annotations

import hashlib
import os

import h5py
import numpy as np
import pytest

from workbench.cli import main
from workbench.export import (DestinationExists, DestinationRefused, ExportError, ExportWriter,
                              check_destination, is_workbench_export, read_export, write_export)

TINY = ["--dataset", "digits", "--epochs", "1", "--batch-size", "64", "--device", "cpu", "--backbone", "mlp",
        "--set", "probe_size=100", "--set", "linear_probe=false", "--quiet"]


pytestmark = pytest.mark.slow  # trains a run to export


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("dest") / "run"
    assert main(["train", "--method", "rotation", "--run-dir", str(run), *TINY]) == 0
    return run


def digest(folder):
    """Every file under folder (links not followed) with its SHA-256: what 'nothing changed' means."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            out[str(path)] = "link -> " + os.readlink(path)
        elif path.is_file():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def small_export(path, **kw):
    return write_export(path, np.ones((3, 2), dtype=np.float32), None, None, **kw)


@pytest.mark.parametrize("target, words", [
    ("checkpoints/best.pt", "checkpoints/ folder"),
    ("checkpoints/last.pt", "checkpoints/ folder"),
    ("config.json", "only files named *.h5"),
    ("events.jsonl", "only files named *.h5"),
    ("checkpoints/new.h5", "checkpoints/ folder"),
    ("previews/new.h5", "previews/ folder"),
    ("embeddings/new.h5", "embeddings/ folder"),
])
def test_export_never_writes_the_runs_own_files_even_with_force(run_dir, capsys, target, words):
    # before: exit 0, and best.pt / config.json were replaced by HDF5 (the run was lost)
    before = digest(run_dir)
    for extra in ([], ["--force"]):
        assert main(["export", str(run_dir), "--out", str(run_dir / target), "--quiet", *extra]) == 2
        err = one_line_error(capsys)
        assert words in err and str(run_dir) in err
    assert digest(run_dir) == before


def test_a_plain_file_inside_a_run_is_never_replaced(run_dir, capsys):
    notes = run_dir / "notes.h5"
    notes.write_text("my notes")
    try:
        assert main(["export", str(run_dir), "--out", str(notes), "--quiet", "--force"]) == 2
        assert "not an SSL Workbench export" in one_line_error(capsys)
        assert notes.read_text() == "my notes"
    finally:
        notes.unlink()


def test_a_run_takes_new_exports_and_replaces_its_own(run_dir, capsys):
    out = run_dir / "embeddings.h5"
    try:
        for _ in range(2):  # the second replaces the first: it is an export of ours
            assert main(["export", str(run_dir), "--out", str(out), "--quiet", "--projection", ""]) == 0
        assert read_export(out).embedding_shape[0] == 359
    finally:
        out.unlink(missing_ok=True)


def test_a_subfolder_of_a_run_is_inside_the_run(run_dir):
    with pytest.raises(DestinationRefused, match="inside run folder"):
        check_destination(run_dir / "checkpoints" / ".." / "config.json", force=True)


def test_existing_file_needs_force_and_an_export_of_ours_does_not(run_dir, tmp_path, capsys):
    other = tmp_path / "results.h5"
    other.write_text("a week of results")
    assert main(["export", str(run_dir), "--out", str(other), "--quiet", "--projection", ""]) == 2
    err = one_line_error(capsys)
    assert "already exists" in err and "--force" in err
    assert other.read_text() == "a week of results"
    assert main(["export", str(run_dir), "--out", str(other), "--quiet", "--projection", "", "--force"]) == 0
    assert is_workbench_export(other)
    assert main(["export", str(run_dir), "--out", str(other), "--quiet", "--projection", ""]) == 0


def test_hdf5_that_is_not_ours_needs_force(tmp_path):
    path = tmp_path / "theirs.h5"
    with h5py.File(path, "w") as f:
        f["embeddings"] = np.zeros((2, 2))
        f.attrs["format_version"] = 1  # no workbench_version: not written by us
    assert not is_workbench_export(path)
    with pytest.raises(DestinationExists):
        small_export(path)
    assert not is_workbench_export(path)
    small_export(path, force=True)
    assert is_workbench_export(path)


@pytest.mark.parametrize("kind", ["to_file", "to_export", "dangling", "to_folder"])
def test_a_symlink_at_the_destination_is_refused_never_followed_or_replaced(tmp_path, kind):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    if kind == "to_export":
        victim = small_export(tmp_path / "victim.h5")
    target = {"dangling": tmp_path / "nowhere", "to_folder": tmp_path}.get(kind, victim)
    before = victim.read_bytes()
    link = tmp_path / "link.h5"
    link.symlink_to(target)
    for force in (False, True):
        with pytest.raises(DestinationRefused, match="symbolic link"):
            small_export(link, force=force)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert victim.read_bytes() == before
    assert not (tmp_path / "nowhere").exists()


def test_a_fifo_or_folder_or_device_is_refused(tmp_path):
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    with pytest.raises(DestinationRefused, match="FIFO"):
        small_export(fifo, force=True)
    with pytest.raises(DestinationRefused, match="folder"):
        small_export(tmp_path, force=True)
    if os.path.exists("/dev/null"):
        with pytest.raises(DestinationRefused, match="device"):
            check_destination("/dev/null", force=True)
    with pytest.raises(ExportError, match="does not exist"):
        check_destination(tmp_path / "missing" / "e.h5")


def test_device_at_out_is_refused_by_the_cli(run_dir, capsys):
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null here")
    # before: /dev/null was replaced by a regular HDF5 file (as root)
    assert main(["export", str(run_dir), "--out", "/dev/null", "--quiet", "--force"]) == 2
    assert "is a device" in one_line_error(capsys)
    assert not os.path.isfile("/dev/null")


def test_a_planted_temp_file_link_is_never_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    planted = tmp_path / f".e.h5.tmp-{os.getpid()}"
    planted.symlink_to(victim)
    out = small_export(tmp_path / "e.h5")
    assert read_export(out).embedding_shape == (3, 2)
    assert victim.read_text() == "precious"
    assert planted.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".e.h5.tmp-%d" % os.getpid(), "e.h5", "victim.txt"]


def test_a_link_put_at_the_destination_during_an_export_is_not_replaced(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "e.h5"
    with pytest.raises(DestinationRefused, match="symbolic link"):
        with ExportWriter(out, rows=3) as writer:
            writer.add_rows(np.ones((3, 2)))
            out.symlink_to(victim)  # while the embeddings were being computed
            writer.finish()
    assert out.is_symlink() and victim.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.h5", "victim.txt"]
