"""Tests of workbench.rundir: the layout, links out of a run folder, safe writes, the lock, recovery."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from workbench.checkpoint import is_complete, save_checkpoint
from workbench.config import RunConfig
from workbench.rundir import RunDir, RunDirError, write_atomic
from workbench.runs import create_run_dir, worker_alive


@pytest.fixture
def run(tmp_path):
    return RunDir(create_run_dir(RunConfig(method="simclr", dataset="mnist5k"), path=tmp_path / "run"))


def test_layout(run):
    assert run.config.name == "config.json" and run.events.name == "events.jsonl"
    assert run.last == run.checkpoints / "last.pt" and run.best == run.checkpoint("best")
    assert run.checkpoint("step-40") == run.checkpoints / "step-40.pt"
    assert run.preview(12, "views") == "previews/00000012-views.png"
    assert run.snapshot(12) == "embeddings/00000012.npz"
    for name in ("step-5.pt", "step-40.pt", "step-10.pt", "last.pt", ".last.pt.tmp-1"):
        (run.checkpoints / name).write_bytes(b"x")
    assert [p.name for p in run.step_checkpoints()] == ["step-40.pt", "step-10.pt", "step-5.pt"]
    assert run.checkpoint_names() == ["last.pt", "step-10.pt", "step-40.pt", "step-5.pt"]


# --- links out of the run folder -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["events.jsonl", "worker.pid", "previews", "checkpoints", "embeddings",
                                  "checkpoints/last.pt", "previews/00000000-views.png"])
def test_a_link_leading_out_is_refused_with_its_name(run, tmp_path, name):
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = run.path / name
    if link.is_dir():
        link.rmdir()
    link.symlink_to(target if "." not in name.split("/")[-1] else target / "file")
    with pytest.raises(RunDirError) as err:
        run.check_contained()
    assert str(link) in str(err.value) and "outside the run folder" in str(err.value)


def test_links_inside_the_folder_are_fine_except_for_files_written_in_place(run):
    (run.checkpoints / "step-5.pt").write_bytes(b"x")
    (run.checkpoints / "best.pt").symlink_to("step-5.pt")
    run.check_contained()
    (run.path / "events.jsonl").symlink_to("config.json")
    with pytest.raises(RunDirError, match="events.jsonl is a symbolic link"):
        run.check_contained()


def test_atomic_write_never_follows_a_planted_temp_link(run, tmp_path):
    """A `.NAME.tmp-PID` symlink planted where the temp file goes must not be written through."""
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    target = run.checkpoints / "last.pt"
    (run.checkpoints / f".last.pt.tmp-{os.getpid()}").symlink_to(victim)
    save_checkpoint({"model": {"w": torch.ones(2)}}, target)
    assert victim.read_text() == "untouched"
    assert is_complete(target) and not any(p.name.startswith(".") for p in run.checkpoints.iterdir())


def test_atomic_write_replaces_a_link_instead_of_writing_into_it(run, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    (run.path / "worker.pid").symlink_to(victim)
    write_atomic(run.path / "worker.pid", b"123\n")
    assert victim.read_text() == "untouched"
    assert not (run.path / "worker.pid").is_symlink() and run.worker_pid() == 123


# --- the lock ------------------------------------------------------------------------------------
def test_a_second_lock_is_refused_with_the_holder_named(run):
    run.pid_file.write_text("4242\n")
    with run.acquire():
        assert worker_alive(run.path)
        with pytest.raises(RunDirError) as err:
            run.acquire(wait=0.1)
        message = str(err.value)
        assert "being trained by process 4242" in message and "stop it first" in message
        assert str(run.lock_file) in message
    assert not worker_alive(run.path)
    run.acquire().release()  # free again


def test_the_lock_dies_with_its_process(run):
    """kill -9 leaves worker.pid behind, but not the lock: the run is free at once."""
    code = ("import os, sys; from workbench.rundir import RunDir; r = RunDir(sys.argv[1]); "
            "lock = r.acquire(); r.write_pid(); print('locked', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(run.path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        assert worker_alive(run.path)
        with pytest.raises(RunDirError, match=f"process {proc.pid}"):
            run.acquire(wait=0.1)
    finally:
        proc.kill()
        proc.wait()
    assert run.pid_file.exists() and not worker_alive(run.path)
    run.acquire().release()


# --- recovery ------------------------------------------------------------------------------------
def _checkpoint(path, step):
    save_checkpoint({"model": {"w": torch.full((2,), float(step))}, "step": step}, path)


def test_resume_checkpoint_falls_back_from_a_cut_last_pt(run):
    assert run.resume_checkpoint() is None
    _checkpoint(run.checkpoint("step-10"), 10)
    _checkpoint(run.best, 15)
    _checkpoint(run.last, 20)
    assert run.resume_checkpoint() == run.last
    data = run.last.read_bytes()
    run.last.write_bytes(data[: len(data) // 2])  # killed while writing it (or a full disk)
    assert not is_complete(run.last)
    assert run.resume_checkpoint() == run.best  # the newest complete one
    run.best.write_bytes(b"")
    assert run.resume_checkpoint() == run.checkpoint("step-10")


def test_stale_temp_files_are_removed(run, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (run.checkpoints / ".last.pt.tmp-123").write_bytes(b"half")
    (run.checkpoints / ".best.pt.tmp-9").symlink_to(victim)
    (run.previews / ".00000001-views.png.tmp-5").write_bytes(b"x")
    (run.checkpoints / "last.pt").write_bytes(b"kept")
    (run.path / ".emb.h5.tmp-77").write_bytes(b"an export writing into the folder now")
    removed = run.remove_stale_temps()
    assert sorted(removed) == ["checkpoints/.best.pt.tmp-9", "checkpoints/.last.pt.tmp-123",
                               "previews/.00000001-views.png.tmp-5"]
    assert victim.read_text() == "keep" and (run.checkpoints / "last.pt").exists()
    assert (run.path / ".emb.h5.tmp-77").exists()


def test_fifos_in_a_run_folder_never_block_a_reader(run):
    """A run list or status probe must not hang on a pipe planted as events.jsonl or worker.lock."""
    from workbench.events import read_events
    from workbench.runs import summarize
    os.mkfifo(run.events)
    os.mkfifo(run.lock_file)
    os.mkfifo(run.pid_file)
    assert list(read_events(run.path)) == []
    assert not run.is_locked() and run.worker_pid() is None
    assert summarize(run.path).status == "new"
    with pytest.raises(RunDirError):
        run.acquire(wait=0.1)
