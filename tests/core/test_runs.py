"""Tests of workbench.runs: run directory layout, names, status from events, listing."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from workbench.config import ConfigError, RunConfig, load_run_config
from workbench.events import encode
from workbench.runs import (CHECKPOINTS, CONFIG_FILE, EMBEDDINGS, PID_FILE, PREVIEWS, RunDir, RunStatus,
                            create_run_dir, list_runs, run_status, summarize)


def _run(**kw) -> RunConfig:
    return RunConfig(method=kw.pop("method", "simclr"), dataset=kw.pop("dataset", "mnist5k"), **kw)


def _events(path, *events):
    with open(path / "events.jsonl", "a") as fh:
        for i, ev in enumerate(events):
            ev = {"t": 1000.0 + i, "step": i, "epoch": 0, **ev}
            fh.write(encode(ev) + "\n")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_create_run_dir_layout(tmp_path):
    run = _run(epochs=3)
    path = create_run_dir(run, root=tmp_path)
    assert path.parent == tmp_path
    assert (path / CONFIG_FILE).is_file()
    for sub in (CHECKPOINTS, PREVIEWS, EMBEDDINGS):
        assert (path / sub).is_dir()
    assert load_run_config(path / CONFIG_FILE) == run


def test_name_pattern(tmp_path):
    path = create_run_dir(_run(method="rotation", dataset="digits"), root=tmp_path)
    assert re.fullmatch(r"\d{8}-\d{6}-rotation-digits", path.name), path.name


def test_unique_names_in_the_same_second(tmp_path, monkeypatch):
    import workbench.runs as runs

    monkeypatch.setattr(runs.time, "strftime", lambda fmt, *a: "20240102-030405")
    a = create_run_dir(_run(), root=tmp_path)
    b = create_run_dir(_run(), root=tmp_path)
    c = create_run_dir(_run(), root=tmp_path)
    assert len({a, b, c}) == 3
    assert a.name == "20240102-030405-simclr-mnist5k"
    assert all((p / CONFIG_FILE).is_file() for p in (a, b, c))


def test_refuses_existing_run(tmp_path):
    path = create_run_dir(_run(), path=tmp_path / "myrun")
    assert path == tmp_path / "myrun"
    with pytest.raises(ConfigError, match="already holds a run"):
        create_run_dir(_run(epochs=99), path=path)
    assert load_run_config(path / CONFIG_FILE).epochs != 99  # untouched


def test_explicit_path_may_exist_without_config(tmp_path):
    (tmp_path / "empty").mkdir()
    path = create_run_dir(_run(), path=tmp_path / "empty")
    assert (path / CONFIG_FILE).is_file()


@pytest.fixture
def run_dir(tmp_path):
    return create_run_dir(_run(epochs=7), path=tmp_path / "r")


def test_summarize_new(run_dir):
    s = summarize(run_dir)
    assert s.status == "new" and s.method == "simclr" and s.dataset == "mnist5k" and s.epochs == 7


def _alive(path):
    """What a worker does: take the run's lock (held while the returned object lives) and say its pid."""
    (path / PID_FILE).write_text(f"{os.getpid()}\n")
    return RunDir(path).acquire()


def test_summarize_running_with_live_worker(run_dir):
    _events(run_dir, {"type": "started"}, {"type": "step", "loss": 1.0})
    with _alive(run_dir):
        s = summarize(run_dir)
        assert s.status == "running" and s.status is RunStatus.RUNNING
        assert s.step == 1 and s.started == 1000.0 and s.updated == 1001.0
    assert summarize(run_dir).status == "interrupted"  # the lock went with its holder


def test_a_reused_pid_without_the_lock_does_not_count_as_alive(run_dir):
    """worker.pid naming a live but unrelated process (a reused PID) no longer says 'running'."""
    _events(run_dir, {"type": "started"})
    (run_dir / PID_FILE).write_text(str(os.getpid()))  # alive, but holds no lock
    assert summarize(run_dir).status == "interrupted"


def test_summarize_running_without_pid_file_is_interrupted(run_dir):
    _events(run_dir, {"type": "started"}, {"type": "step"})
    assert summarize(run_dir).status == "interrupted"


def test_summarize_running_with_dead_pid_is_interrupted(run_dir):
    _events(run_dir, {"type": "started"})
    (run_dir / PID_FILE).write_text(str(_dead_pid()))
    assert summarize(run_dir).status == "interrupted"


def test_summarize_garbage_pid_is_interrupted(run_dir):
    _events(run_dir, {"type": "started"})
    (run_dir / PID_FILE).write_text("not a pid")
    assert summarize(run_dir).status == "interrupted"


def test_summarize_paused_and_resumed(run_dir):
    with _alive(run_dir):
        _events(run_dir, {"type": "started"}, {"type": "paused"})
        assert summarize(run_dir).status == "paused"
        _events(run_dir, {"type": "resumed"})
        assert summarize(run_dir).status == "running"


def test_summarize_finished(run_dir):
    _events(run_dir, {"type": "started"}, {"type": "epoch"}, {"type": "finished", "message": "done"})
    s = summarize(run_dir)
    assert s.status == "finished" and s.message == "done" and s.step == 2


def test_summarize_stopped(run_dir):
    _events(run_dir, {"type": "started"}, {"type": "finished", "stopped": True})
    assert summarize(run_dir).status == "stopped"


def test_summarize_failed_with_message(run_dir):
    _events(run_dir, {"type": "started"}, {"type": "failed", "message": "loss became nan at step 3"})
    s = summarize(run_dir)
    assert s.status == "failed" and s.message == "loss became nan at step 3"


def test_summarize_picks_up_eval(run_dir):
    _events(run_dir, {"type": "started"},
            {"type": "eval", "knn_top1": 0.5, "knn_best": 0.5},
            {"type": "eval", "knn_top1": 0.4, "knn_best": 0.5},
            {"type": "eval", "linear_top1": 0.8},
            {"type": "finished"})
    s = summarize(run_dir)
    assert s.last_knn == 0.4 and s.best_knn == 0.5 and s.linear == 0.8
    assert s.status == "finished"


def test_summarize_lists_checkpoints_and_skips_truncated_line(run_dir):
    (run_dir / CHECKPOINTS / "last.pt").write_bytes(b"x")
    (run_dir / CHECKPOINTS / "best.pt").write_bytes(b"x")
    _events(run_dir, {"type": "started"}, {"type": "finished"})
    with open(run_dir / "events.jsonl", "a") as fh:
        fh.write('{"type":"failed","mess')
    s = summarize(run_dir)
    assert s.status == "finished"
    assert s.checkpoints == ["best.pt", "last.pt"]


def test_list_runs_newest_first_and_skips_bad(tmp_path):
    names = ["20240101-000000-simclr-mnist5k", "20240301-000000-rotation-digits",
             "20240201-000000-autoencoder-mnist5k"]
    for n in names:
        create_run_dir(_run(), path=tmp_path / n)
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "stray.txt").write_text("x")
    broken = tmp_path / "20250101-000000-simclr-broken"
    broken.mkdir()
    (broken / CONFIG_FILE).write_text("{ not json")
    invalid = tmp_path / "20250102-000000-simclr-invalid"
    invalid.mkdir()
    (invalid / CONFIG_FILE).write_text('{"lr": -1}')
    got = [s.path.name for s in list_runs(tmp_path)]
    assert got == sorted(names, reverse=True)


def test_list_runs_missing_root(tmp_path):
    assert list_runs(tmp_path / "nowhere") == []


# --- the one status derivation ---------------------------------------------------------------
@pytest.mark.parametrize("events, alive, expected", [
    ([], False, "new"),
    ([{"type": "started"}], True, "running"),
    ([{"type": "started"}], False, "interrupted"),
    ([{"type": "started"}, {"type": "paused"}], True, "paused"),
    ([{"type": "started"}, {"type": "paused"}], False, "interrupted"),
    ([{"type": "started"}, {"type": "paused"}, {"type": "resumed"}], True, "running"),
    ([{"type": "started"}, {"type": "finished"}], False, "finished"),
    ([{"type": "started"}, {"type": "finished", "stopped": True}], False, "stopped"),
    ([{"type": "started"}, {"type": "failed"}], True, "failed"),
    ([{"type": "started"}, {"type": "finished"}, {"type": "started"}], True, "running"),
    ([{"type": "step"}], True, "running"),  # its `started` line was lost: training still shows
    ([{"type": "started"}, {"type": "finished"}, {"type": "log"}, {"type": "eval"}], False, "finished"),
])
def test_run_status(events, alive, expected):
    assert run_status(events, alive) == expected


def test_status_properties():
    assert {s for s in RunStatus if s.active} == {RunStatus.RUNNING, RunStatus.PAUSED}
    assert {s for s in RunStatus if s.resumable} == {RunStatus.STOPPED, RunStatus.INTERRUPTED, RunStatus.FAILED}
    assert all(s.help for s in RunStatus)
    assert f"{RunStatus.FAILED}" == "failed" and RunStatus("paused") is RunStatus.PAUSED


def test_scan_runs_rereads_only_changed_runs_and_notices_a_dead_worker(tmp_path):
    from workbench.runs import scan_runs
    a = create_run_dir(_run(), path=tmp_path / "20240101-000000-simclr-mnist5k")
    b = create_run_dir(_run(), path=tmp_path / "20240102-000000-simclr-mnist5k")
    _events(b, {"type": "started"})
    lock = _alive(b)
    rows, cache = scan_runs(tmp_path, {})
    assert [(r.summary.path, r.summary.status) for r in rows] == [(a, "new"), (b, "running")]
    again, cache = scan_runs(tmp_path, cache)
    assert all(x is y for x, y in zip(rows, again))  # nothing changed: the same rows, not re-read
    lock.release()  # its worker died: same files, but the status must change
    rows, cache = scan_runs(tmp_path, cache)
    assert rows[0] is again[0] and rows[1].summary.status == "interrupted"
