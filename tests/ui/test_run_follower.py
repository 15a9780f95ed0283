"""RunFollower tails events.jsonl of runs started elsewhere: replay, live lines, partial lines, the end."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from ui.run_follower import RunFollower  # noqa: E402
from workbench.config import new_run_config  # noqa: E402
from workbench.events import EVENTS_FILE, read_events  # noqa: E402
from workbench.runs import RunDir, create_run_dir  # noqa: E402


def make_run_dir(path, **settings):
    opts = dict(epochs=2, batch_size=64, device="cpu", probe_size=100, preview_interval=0.0,
                linear_probe=False, threads=1, backbone="mlp")  # seconds, not minutes, on CPU
    opts.update(settings)
    return create_run_dir(new_run_config("rotation", "digits", **opts), path=path)


def line(type_, step=0, **fields) -> str:
    return json.dumps({"type": type_, "t": time.time(), "step": step, "epoch": 0, **fields}) + "\n"


@pytest.fixture
def follower(qtbot):
    f = RunFollower()
    yield f
    f.stop()


@pytest.mark.slow  # a worker subprocess
def test_follows_a_worker_subprocess_to_its_finished_event(qtbot, follower, tmp_path):
    run_dir = make_run_dir(tmp_path / "run", epochs=1)
    seen = []
    follower.event.connect(seen.append)
    follower.follow(run_dir)  # before the worker has written anything
    assert seen == [] and follower.is_following()
    worker = subprocess.Popen([sys.executable, "-m", "workbench.worker", str(run_dir)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with qtbot.waitSignal(follower.finished, timeout=90_000):
            pass
    finally:
        _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err.decode()
    assert not follower.is_following()
    # exactly the durable record, in order, each line once
    assert [e["type"] for e in seen] == [e["type"] for e in read_events(run_dir)]
    assert seen[0]["type"] == "started" and seen[-1]["type"] == "finished"


def test_a_partial_line_waits_for_its_end(qtbot, follower, tmp_path):
    run_dir = make_run_dir(tmp_path / "run")
    lock = RunDir(run_dir).acquire()  # "a worker is alive": keep following
    events = run_dir / EVENTS_FILE
    first, second = line("started", total_steps=10), line("step", step=1, loss=2.5)
    events.write_text(first + second[:20])
    seen = []
    follower.event.connect(seen.append)
    follower.follow(run_dir)
    assert [e["type"] for e in seen] == ["started"]
    qtbot.wait(600)  # two polls go by: the half line must not come out, nor be dropped
    assert [e["type"] for e in seen] == ["started"]
    with open(events, "a") as fh:
        fh.write(second[20:])
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5_000)
    assert seen[1]["type"] == "step" and seen[1]["loss"] == 2.5
    # the run ends: finished event, then the worker goes away
    with open(events, "a") as fh:
        fh.write(line("finished", step=10, stopped=False, message="done"))
    qtbot.waitUntil(lambda: len(seen) == 3, timeout=5_000)
    assert follower.is_following()  # its worker is still "alive"
    with qtbot.waitSignal(follower.finished, timeout=5_000):
        lock.release()


def test_without_replay_only_new_lines_come_out(qtbot, follower, tmp_path):
    run_dir = make_run_dir(tmp_path / "run")
    lock = RunDir(run_dir).acquire()
    events = run_dir / EVENTS_FILE
    events.write_text(line("started") + line("step", step=1))
    seen = []
    follower.event.connect(seen.append)
    follower.follow(run_dir, replay=False)
    with open(events, "a") as fh:
        fh.write(line("step", step=2))
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=5_000)
    assert seen[0]["step"] == 2
    lock.release()


def test_a_run_that_died_silently_ends_after_a_quiet_spell(qtbot, follower, tmp_path):
    run_dir = make_run_dir(tmp_path / "run")
    (run_dir / EVENTS_FILE).write_text(line("started") + line("step", step=1))
    follower.quiet_seconds = 0.5
    seen = []
    follower.event.connect(seen.append)
    with qtbot.waitSignal(follower.finished, timeout=5_000):
        follower.follow(run_dir)  # no worker holds its lock, no finished event: killed long ago
    assert [e["type"] for e in seen] == ["started", "step"]


def test_a_resumed_run_is_followed_past_its_earlier_stop(qtbot, follower, tmp_path):
    run_dir = make_run_dir(tmp_path / "run")  # its worker has not taken the lock yet
    (run_dir / EVENTS_FILE).write_text(
        line("started") + line("finished", step=5, stopped=True) + line("started", step=5, resumed=True))
    seen = []
    follower.event.connect(seen.append)
    follower.follow(run_dir)
    assert [e["type"] for e in seen] == ["started", "finished", "started"]
    qtbot.wait(400)
    assert follower.is_following()  # the earlier `finished` does not end it
