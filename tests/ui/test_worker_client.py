"""WorkerClient drives a real worker process: signals, states, pause/stop, crashes, resume, detach."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from ui.worker_client import WorkerClient  # noqa: E402
from workbench.config import new_run_config  # noqa: E402
from workbench.events import read_events  # noqa: E402
from workbench.runs import PID_FILE, RunDir, create_run_dir, summarize  # noqa: E402

pytestmark = pytest.mark.slow  # every test runs a worker through QProcess

RUN_TIMEOUT_MS = 90_000


@pytest.fixture
def make_run(tmp_path):
    """A tiny CPU rotation run on digits. The MLP backbone keeps a 2-epoch run to seconds on a
    busy 2-core machine (the small CNN takes ~30 s), which is all these tests need."""
    counter = iter(range(100))

    def _make(method="rotation", epochs=2, method_config=None, **settings):
        opts = dict(epochs=epochs, batch_size=64, device="cpu", probe_size=100, preview_interval=0.0,
                    linear_probe=False, threads=1, backbone="mlp")
        opts.update(settings)
        run = new_run_config(method, "digits", **opts)
        run.method_config = method_config or {}
        return create_run_dir(run, path=tmp_path / f"run{next(counter)}")

    return _make


@pytest.fixture
def client(qtbot):
    c = WorkerClient()
    yield c
    if c.is_running():
        with qtbot.waitSignal(c.state_changed, timeout=10_000):
            c.kill()


def record(signal_):
    seen = []
    signal_.connect(lambda *args: seen.append(args[0] if len(args) == 1 else args))
    return seen


def test_a_run_streams_typed_signals_and_finishes(qtbot, client, make_run):
    run_dir = make_run()
    states, events = record(client.state_changed), record(client.event)
    steps, evals = record(client.step_logged), record(client.eval_logged)
    previews, embeddings = record(client.preview_ready), record(client.embedding_ready)
    checkpoints = record(client.checkpoint_saved)
    with qtbot.waitSignal(client.run_finished, timeout=RUN_TIMEOUT_MS) as done:
        client.start(run_dir)
        assert client.is_running() and client.state == "starting" and client.run_dir == run_dir
        with pytest.raises(RuntimeError, match="already running"):
            client.start(run_dir)
    assert states == ["starting", "running", "finished"]
    assert done.args[0]["type"] == "finished" and done.args[0]["stopped"] is False
    assert not client.is_running() and client.state == "finished"
    # every event arrives once, in the order of the durable record, and typed signals agree
    assert [e["type"] for e in events] == [e["type"] for e in read_events(run_dir)]
    assert steps and steps[-1]["step"] == events[0]["total_steps"]
    assert all(e["type"] == "step" for e in steps)
    assert any("knn_top1" in e for e in evals)
    assert previews and (run_dir / previews[0]["path"]).is_file()
    assert embeddings and (run_dir / embeddings[0]["path"]).is_file()
    assert any(c["path"].endswith("last.pt") for c in checkpoints)


def test_stop_checkpoints_and_ends_as_stopped(qtbot, client, make_run):
    run_dir = make_run(epochs=20)  # stopped long before its end
    states = record(client.state_changed)
    with qtbot.waitSignal(client.step_logged, timeout=RUN_TIMEOUT_MS):
        client.start(run_dir)
    with qtbot.waitSignal(client.run_finished, timeout=60_000) as done:
        client.stop()
        assert client.state == "stopping"
    assert done.args[0]["stopped"] is True
    assert states == ["starting", "running", "stopping", "stopped"]
    assert (run_dir / "checkpoints" / "last.pt").exists()
    assert summarize(run_dir).status == "stopped"


def test_pause_resume_then_a_kill_fails_clearly_and_resume_finishes(qtbot, client, make_run):
    run_dir = make_run(epochs=2)
    states = record(client.state_changed)
    with qtbot.waitSignal(client.step_logged, timeout=RUN_TIMEOUT_MS):
        client.start(run_dir)
    client.pause()
    qtbot.waitUntil(lambda: client.state == "paused", timeout=30_000)
    assert (run_dir / "checkpoints" / "last.pt").exists()  # pausing checkpoints first
    client.resume()
    qtbot.waitUntil(lambda: client.state == "running", timeout=30_000)
    with qtbot.waitSignal(client.run_failed, timeout=30_000) as failed:
        client.kill()  # as if the process died mid-run
    message = failed.args[0]
    assert "killed" in message and "checkpoint" in message and "Resume" in message
    assert states == ["starting", "running", "paused", "running", "failed"]
    assert not client.is_running()

    events = record(client.event)
    with qtbot.waitSignal(client.run_finished, timeout=RUN_TIMEOUT_MS) as done:
        client.start(run_dir, resume=True)
    assert events[0]["type"] == "started" and events[0]["resumed"] is True and events[0]["step"] > 0
    assert done.args[0]["stopped"] is False and client.state == "finished"
    assert summarize(run_dir).status == "finished"


def test_a_bad_config_fails_with_a_message_naming_the_setting(qtbot, client, make_run):
    run_dir = make_run(method="simclr", method_config={"temperature": -1})
    states = record(client.state_changed)
    with qtbot.waitSignal(client.run_failed, timeout=RUN_TIMEOUT_MS) as failed:
        client.start(run_dir)
    assert "temperature" in failed.args[0]
    assert states == ["starting", "failed"]
    # and the client is free for the next run
    assert not client.is_running()


def test_a_refused_run_reports_the_workers_one_line_reason(qtbot, client, tmp_path):
    with qtbot.waitSignal(client.run_failed, timeout=RUN_TIMEOUT_MS) as failed:
        client.start(tmp_path / "not-a-run")  # the worker refuses on stderr, exit code 2
    message = failed.args[0]
    assert "not a run directory" in message  # the worker's stderr line, not a generic crash text
    assert "ended unexpectedly" not in message


def test_a_detached_worker_outlives_the_gui_and_stops_on_sigterm(qtbot, make_run, tmp_path):
    """A GUI process starts a run, detaches, deletes its client and exits; the run goes on."""
    run_dir = make_run(epochs=50)
    gui = textwrap.dedent(f"""
        import gc, sys
        from pathlib import Path
        from PySide6.QtCore import QCoreApplication
        from ui.worker_client import WorkerClient
        app = QCoreApplication([])
        client = WorkerClient()
        def on_step(ev):
            global client
            print(client.detach(), flush=True)
            del client
            gc.collect()
            app.quit()
        client.step_logged.connect(on_step)
        client.run_failed.connect(lambda m: (print(m, file=sys.stderr), app.exit(1)))
        client.start(Path({str(run_dir)!r}))
        sys.exit(app.exec())
    """)
    gui_proc = subprocess.run([sys.executable, "-c", gui], capture_output=True, text=True, timeout=90)
    assert gui_proc.returncode == 0, gui_proc.stderr
    assert "Destroyed while process" not in gui_proc.stderr  # Qt did not kill it on the way out
    pid = int(gui_proc.stdout.split()[-1])
    os.kill(pid, 0)  # still alive after the GUI process is gone
    count = lambda: sum(1 for _ in read_events(run_dir))  # noqa: E731
    seen = count()
    # with nobody reading its stdout it keeps training and recording events
    qtbot.waitUntil(lambda: count() > seen + 3, timeout=30_000)
    os.kill(pid, signal.SIGTERM)  # the worker treats SIGTERM as stop
    qtbot.waitUntil(lambda: not (run_dir / PID_FILE).exists(), timeout=60_000)
    last = list(read_events(run_dir))[-1]
    assert last["type"] == "finished" and last["stopped"] is True
    assert (run_dir / "checkpoints" / "last.pt").exists()


def test_a_run_another_worker_trains_is_refused_with_its_message(qtbot, client, make_run):
    """The second worker exits at once with one line; the client shows that line, not 'exit code 2'."""
    run_dir = make_run()
    (run_dir / PID_FILE).write_text("4242\n")
    lock = RunDir(run_dir).acquire()  # stands in for a worker started from a terminal
    try:
        failures = record(client.run_failed)
        with qtbot.waitSignal(client.run_failed, timeout=RUN_TIMEOUT_MS):
            client.start(run_dir)
    finally:
        lock.release()
    assert failures == [f"run {run_dir} is being trained by process 4242; stop it first, or if no such "
                        f"process exists delete {run_dir / 'worker.lock'}"]
    assert client.state == "failed" and not client.is_running()
    assert list(read_events(run_dir)) == []  # the refused worker wrote nothing to the run
