"""A full disk, a lost permission or a read-only file system: one clear line naming the file, never a crash."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import workbench.checkpoint as checkpoint
import workbench.export as export
from workbench.checkpoint import CheckpointError, save_checkpoint
from workbench.cli import main
from workbench.export import ExportError, read_export, sha256_file, write_export

REASONS = [(errno.ENOSPC, "no space left on device"), (errno.EACCES, "permission denied"),
           (errno.EROFS, "read-only file system"), (errno.EDQUOT, "disk quota exceeded")]


pytestmark = pytest.mark.slow  # mounts file systems and runs the CLI


def data(n=400, d=64, seed=0):
    rng = np.random.default_rng(seed)
    return dict(embeddings=rng.standard_normal((n, d)).astype(np.float32), labels=None, indices=None,
                projections={"pca": rng.standard_normal((n, 2))})


def fail_writes_after(monkeypatch, budget: int, code: int):
    """os.pwrite succeeds for `budget` bytes, then fails with `code` (as a full disk would)."""
    real = os.pwrite
    written = [0]

    def pwrite(fd, buf, offset):
        if written[0] + len(buf) > budget:
            raise OSError(code, os.strerror(code))
        written[0] += len(buf)
        return real(fd, buf, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)


@pytest.mark.parametrize("budget", [0, 5_000, 60_000])
@pytest.mark.parametrize("code, reason", REASONS)
def test_write_failure_is_one_line_naming_the_file(tmp_path, monkeypatch, budget, code, reason):
    target = write_export(tmp_path / "e.h5", **data(seed=1))
    before = sha256_file(target)
    monkeypatch.setattr(export, "_CHUNK_BYTES", 4 * 64 * 50)  # several chunks: failures land mid-file
    monkeypatch.setattr(export, "_WRITE_BLOCK_BYTES", 4 * 64 * 100)
    fail_writes_after(monkeypatch, budget, code)
    with pytest.raises(ExportError) as caught:
        write_export(target, **data(seed=2))
    assert str(caught.value) == f"cannot write {target}: {reason}"
    monkeypatch.undo()
    assert sha256_file(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.h5"]


def test_ctrl_c_inside_an_hdf5_write_stops_cleanly(tmp_path, monkeypatch):
    """A signal handler's exception raised while HDF5 calls back into Python never reaches HDF5."""
    real = os.pwrite
    calls = []

    def pwrite(fd, buf, offset):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(fd, buf, offset)

    monkeypatch.setattr(export, "_CHUNK_BYTES", 4 * 64 * 50)
    monkeypatch.setattr(os, "pwrite", pwrite)
    with pytest.raises(KeyboardInterrupt):
        write_export(tmp_path / "e.h5", **data())
    assert list(tmp_path.iterdir()) == []


def test_failed_fsync_is_an_export_error(tmp_path, monkeypatch):
    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(ExportError, match=r"e\.h5: no space left on device"):
        write_export(tmp_path / "e.h5", **data())
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_on_a_full_disk_names_the_file_and_reason(tmp_path, monkeypatch):
    # before: "RuntimeError: [enforce fail at inline_container.cc:672] . unexpected pos …"
    class FullDisk:
        def __init__(self, fh, budget=300):
            self.fh, self.budget = fh, budget

        def write(self, b):
            if len(b) > self.budget:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.budget -= len(b)
            return self.fh.write(b)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    real_write_atomic = checkpoint.write_atomic  # the real temp file, with a disk that fills up under it
    monkeypatch.setattr(checkpoint, "write_atomic", lambda path, write=None, **k: real_write_atomic(
        path, write=lambda fh: write(FullDisk(fh)), **k))
    path = tmp_path / "last.pt"
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint({"model": {"w": torch.zeros(10_000)}}, path)
    assert str(caught.value) == f"could not write checkpoint {path}: no space left on device"
    assert list(tmp_path.iterdir()) == []


# --- real tiny file systems (root only; skipped where mounting is not allowed) ----------------------------
@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 1 MiB tmpfs, filled to all but `free` bytes by fill(free)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                              capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("cannot run mount here")
    if done.returncode != 0:
        pytest.skip("mounting a tmpfs is not allowed here")

    def fill(free: int) -> Path:
        stats = os.statvfs(mount)
        size = stats.f_bavail * stats.f_frsize - free
        (mount / "filler").write_bytes(b"\0" * max(0, size))
        return mount

    try:
        yield fill
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=20)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("full") / "run"
    assert main(["train", "--method", "rotation", "--run-dir", str(run), "--dataset", "digits", "--epochs", "1",
                 "--batch-size", "64", "--device", "cpu", "--backbone", "mlp", "--set", "probe_size=100",
                 "--set", "linear_probe=false", "--quiet"]) == 0
    return run


@pytest.mark.parametrize("free", [64 * 1024])
def test_cli_export_to_a_full_tmpfs_says_so_and_does_not_crash(tiny_tmpfs, run_dir, free):
    # before: the right message, then a segfault (rc 139), or a RuntimeError traceback from f.close()
    mount = tiny_tmpfs(free)
    out = mount / "e.h5"
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "export", str(run_dir), "--out", str(out),
                           "--split", "all", "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"ssl-workbench: error: cannot write {out}: no space left on device"
    assert sorted(p.name for p in mount.iterdir()) == ["filler"]


def test_checkpoint_to_a_full_tmpfs(tiny_tmpfs):
    mount = tiny_tmpfs(16 * 1024)
    path = mount / "checkpoints" / "last.pt"
    with pytest.raises(CheckpointError, match=r"last\.pt: no space left on device"):
        save_checkpoint({"model": {"w": torch.zeros(100_000)}}, path)
    assert list(path.parent.iterdir()) == []


def test_export_to_a_read_only_tmpfs(tiny_tmpfs, tmp_path):
    mount = tiny_tmpfs(512 * 1024)
    done = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True, timeout=20)
    if done.returncode != 0:
        pytest.skip("cannot remount read-only here")
    with pytest.raises(ExportError, match=r"e\.h5: read-only file system"):
        write_export(mount / "e.h5", **data())
    with pytest.raises(ExportError, match="no such file"):
        read_export(mount / "e.h5")
