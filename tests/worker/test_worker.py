"""The worker process: event sequence, commands, signals, crashes, NaN guard, exact resume."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from workbench.checkpoint import CheckpointError, load_checkpoint
from workbench.event_schema import check_event
from workbench.events import command, decode, read_events
from workbench.rundir import RunDir, RunDirError
from workbench.runs import summarize
from workbench.worker import run_worker

pytestmark = pytest.mark.slow  # every test runs worker subprocesses


class Worker:
    """A real `python -m workbench.worker` process with its stdout read on a thread."""

    def __init__(self, run_dir, *extra):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workbench.worker", str(run_dir), *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.events: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            ev = decode(line)
            if ev is not None:
                self.events.put(ev)

    def wait_for(self, predicate, timeout=120.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ev = self.events.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.events.empty():
                    break
                continue
            self.seen.append(ev)
            if predicate(ev):
                return ev
        raise AssertionError(f"event not seen; got {[e['type'] for e in self.seen]}; "
                             f"stderr: {self.proc.stderr.read() if self.proc.poll() is not None else ''}")

    def send(self, name: str):
        self.proc.stdin.write(command(name))
        self.proc.stdin.flush()

    def finish(self, timeout=120.0) -> int:
        code = self.proc.wait(timeout=timeout)
        while not self.events.empty():
            self.seen.append(self.events.get())
        return code


def test_a_full_run_streams_the_documented_events(make_run):
    run_dir = make_run(epochs=2)
    w = Worker(run_dir)
    assert w.finish() == 0
    types = [e["type"] for e in w.seen]
    assert types[0] == "started" and types[-1] == "finished"
    for kind in ("step", "epoch", "eval", "preview", "checkpoint", "embedding"):
        assert kind in types, kind
    assert types.count("epoch") == 2
    assert all({"t", "step", "epoch"} <= set(e) for e in w.seen)
    assert {e["type"]: check_event(e) for e in w.seen if check_event(e)} == {}  # every event fits its schema
    # stdout and the durable record are the same events
    assert [e["type"] for e in read_events(run_dir)] == types
    steps = [e for e in w.seen if e["type"] == "step"]
    assert steps[-1]["step"] == w.seen[0]["total_steps"]
    assert all(s["loss"] > 0 and s["img_s"] > 0 and "rotation_acc" in s["logs"] for s in steps)
    evals = [e for e in w.seen if e["type"] == "eval" and "knn_top1" in e]
    assert len(evals) == 2 and 0.0 <= evals[-1]["knn_top1"] <= 1.0
    for ev in w.seen:
        if "path" in ev:
            assert (run_dir / ev["path"]).is_file(), ev
    assert (run_dir / "checkpoints" / "last.pt").is_file()
    assert (run_dir / "checkpoints" / "best.pt").is_file()
    assert summarize(run_dir).status == "finished"
    assert not (run_dir / "worker.pid").exists()


def test_pause_resume_and_stop_commands(make_run):
    run_dir = make_run(epochs=50)
    w = Worker(run_dir)
    w.wait_for(lambda e: e["type"] == "step")
    w.send("pause")
    paused = w.wait_for(lambda e: e["type"] == "paused")
    time.sleep(0.5)
    assert w.events.empty(), "a paused worker must not train"
    w.send("snapshot")
    w.wait_for(lambda e: e["type"] == "embedding")
    w.send("resume")
    w.wait_for(lambda e: e["type"] == "resumed")
    w.wait_for(lambda e: e["type"] == "step" and e["step"] > paused["step"])
    w.send("stop")
    assert w.finish() == 0
    last = w.seen[-1]
    assert last["type"] == "finished" and last["stopped"] is True
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert state["step"] == last["step"]
    assert summarize(run_dir).status == "stopped"


def test_sigterm_stops_with_a_checkpoint(make_run):
    run_dir = make_run(epochs=50)
    w = Worker(run_dir)
    w.wait_for(lambda e: e["type"] == "step")
    w.proc.send_signal(signal.SIGTERM)
    assert w.finish() == 0
    assert w.seen[-1]["type"] == "finished" and w.seen[-1]["stopped"]
    assert (run_dir / "checkpoints" / "last.pt").is_file()


def _last_epoch_loss(run_dir, epoch):
    losses = [e["loss"] for e in read_events(run_dir) if e["type"] == "epoch" and e["epoch"] == epoch]
    return losses[-1]


def test_killed_worker_resumes_to_the_same_result(make_run):
    """SIGKILL mid-epoch, resume from the last checkpoint: same loss as an uninterrupted run."""
    reference = make_run(method="simclr", epochs=3, seed=7)
    assert Worker(reference).finish() == 0

    run_dir = make_run(method="simclr", epochs=3, seed=7)
    w = Worker(run_dir)
    w.wait_for(lambda e: e["type"] == "checkpoint" and e["epoch"] == 1)
    w.wait_for(lambda e: e["type"] == "step" and e["epoch"] == 1)  # now mid-way through epoch 2
    w.proc.kill()
    w.finish()
    assert summarize(run_dir).status == "interrupted"

    resumed = Worker(run_dir, "--resume")
    assert resumed.finish() == 0
    assert resumed.seen[0]["type"] == "started" and resumed.seen[0]["resumed"] is True
    assert _last_epoch_loss(run_dir, 2) == pytest.approx(_last_epoch_loss(reference, 2), rel=1e-6)
    a = load_checkpoint(reference / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key
    assert summarize(run_dir).status == "finished"


def test_nan_loss_fails_clearly_and_keeps_the_last_good_checkpoint(make_run, monkeypatch):
    from plugins.rotation import Rotation
    run_dir = make_run(epochs=3)
    original = Rotation.training_step
    calls = {"n": 0}

    def diverging(self, batch):
        out = original(self, batch)
        calls["n"] += 1
        if calls["n"] > 30:  # digits: 22 steps per epoch, so this is in epoch 2
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(Rotation, "training_step", diverging)
    seen = []
    code = run_worker(run_dir, listeners=[seen.append])
    assert code == 3
    failed = seen[-1]
    assert failed["type"] == "failed"
    assert "nan" in failed["message"] and "step 30" in failed["message"]
    assert "learning rate" in failed["message"]
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v.float()).all() for v in state["model"].values())


def test_a_crashing_method_becomes_a_failed_event(make_run, monkeypatch):
    from plugins.rotation import Rotation

    def broken(self, batch):
        raise RuntimeError("boom in the method")

    monkeypatch.setattr(Rotation, "training_step", broken)
    run_dir = make_run()
    seen = []
    assert run_worker(run_dir, listeners=[seen.append]) == 1
    assert seen[-1]["type"] == "failed" and "boom in the method" in seen[-1]["message"]
    assert "Traceback" in seen[-1]["detail"]
    assert summarize(run_dir).status == "failed"


def test_bad_settings_in_config_fail_with_the_field_named(make_run):
    run_dir = make_run(method="simclr", method_config={"temperature": -1.0})
    seen = []
    assert run_worker(run_dir, listeners=[seen.append]) == 2
    assert seen[-1]["type"] == "failed"
    assert "temperature" in seen[-1]["message"] and "> 0" in seen[-1]["message"]


def test_resume_without_a_checkpoint_is_refused_before_any_event(make_run):
    """A failed resume used to append a `failed` event, turning a finished run into a failed one."""
    run_dir = make_run()
    with open(run_dir / "events.jsonl", "w") as fh:
        fh.write('{"type":"started","t":1,"step":0,"epoch":0}\n{"type":"finished","t":2,"step":9,"epoch":2}\n')
    before = (run_dir / "events.jsonl").read_bytes()
    seen = []
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        run_worker(run_dir, resume=True, listeners=[seen.append])
    assert seen == [] and (run_dir / "events.jsonl").read_bytes() == before
    assert summarize(run_dir).status == "finished"
    proc = subprocess.run([sys.executable, "-m", "workbench.worker", str(run_dir), "--resume"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().startswith("error: ") and "no complete checkpoint" in proc.stderr
    assert (run_dir / "events.jsonl").read_bytes() == before


def test_not_a_run_directory(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "workbench.worker", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "not a run directory" in proc.stderr and "Traceback" not in proc.stderr


def test_a_second_worker_on_the_same_run_is_refused(make_run):
    """Two `resume`s at once both trained the run (3 `started` events, every step twice)."""
    run_dir = make_run(epochs=50)
    first = Worker(run_dir)
    first.wait_for(lambda e: e["type"] == "step")
    second = subprocess.run([sys.executable, "-m", "workbench.worker", str(run_dir), "--resume"],
                            capture_output=True, text=True, timeout=300)
    first.send("stop")
    assert first.finish() == 0
    assert second.returncode == 2 and second.stdout == ""
    assert f"is being trained by process {first.proc.pid}; stop it first" in second.stderr
    assert "Traceback" not in second.stderr
    events = list(read_events(run_dir))
    assert [e["type"] for e in events].count("started") == 1
    steps = [e["step"] for e in events if e["type"] == "step"]
    assert steps == sorted(set(steps))  # no step trained twice


def test_a_stale_pid_file_naming_a_live_process_does_not_block(make_run):
    run_dir = make_run(epochs=1, batch_size=512)
    (run_dir / "worker.pid").write_text(str(os.getpid()))  # a reused PID: alive, but no worker
    assert summarize(run_dir).status == "new"
    assert run_worker(run_dir) == 0
    assert summarize(run_dir).status == "finished" and not (run_dir / "worker.pid").exists()


@pytest.mark.parametrize("name", ["events.jsonl", "worker.pid", "previews", "checkpoints", "embeddings"])
def test_resume_refuses_links_out_of_the_run_folder(make_run, tmp_path, name):
    run_dir = make_run(epochs=1)
    (run_dir / "events.jsonl").write_text("")
    (run_dir / "worker.pid").write_text("1\n")
    (run_dir / "checkpoints" / "last.pt").write_bytes(b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_text("precious\n")
    link = run_dir / name
    if link.is_dir():
        os.replace(link, outside / "moved")
        link.symlink_to(outside)
    else:
        link.unlink(missing_ok=True)
        link.symlink_to(outside / "file")
    before = sorted((p.name, p.read_bytes()) for p in outside.iterdir() if p.is_file())
    with pytest.raises(RunDirError, match="outside the run folder"):
        run_worker(run_dir, resume=True)
    assert sorted((p.name, p.read_bytes()) for p in outside.iterdir() if p.is_file()) == before
    if name == "events.jsonl":  # the command line says it in one line, and writes nothing either
        proc = subprocess.run([sys.executable, "-m", "workbench.worker", str(run_dir), "--resume"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.startswith(f"error: {link} is a symbolic link") and proc.stderr.count("\n") == 1
        assert sorted((p.name, p.read_bytes()) for p in outside.iterdir() if p.is_file()) == before


def test_resume_after_a_cut_last_pt_falls_back_and_says_so(make_run):
    """kill -9 while last.pt was written: resume from the newest complete checkpoint, clean the temp."""
    run_dir = make_run(epochs=3, checkpoint_every=1)
    commands: queue.Queue = queue.Queue()

    def stop_after_first_epoch(ev):
        if ev["type"] == "checkpoint" and ev["path"].startswith("checkpoints/step-"):
            commands.put({"type": "stop"})

    assert run_worker(run_dir, commands=commands, listeners=[stop_after_first_epoch]) == 0
    layout = RunDir(run_dir)
    data = layout.last.read_bytes()
    layout.last.write_bytes(data[:100])
    stale = layout.checkpoints / ".last.pt.tmp-999999"
    stale.write_bytes(data[:50])
    with open(layout.events, "a") as fh:
        fh.write('{"type":"step","step":40,"epoch":1,"lo')  # and the event line it was writing
    seen = []
    assert run_worker(run_dir, resume=True, listeners=[seen.append]) == 0
    note = [e for e in seen if e["type"] == "log" and "last.pt" in e["message"]]
    assert note and "incomplete" in note[0]["message"] and note[0]["level"] == "warning"
    assert "checkpoints/step-" in note[0]["message"]
    started = [e for e in read_events(run_dir) if e["type"] == "started"]
    assert len(started) == 2 and started[-1]["resumed"] is True  # not swallowed by the cut line
    assert not stale.exists()
    assert load_checkpoint(layout.last)["epoch"] == 3
    assert summarize(run_dir).status == "finished"


def test_every_event_of_a_short_real_run_fits_the_schema(make_run):
    """The schema is what the trainer emits: checked as made (make_event), again here as seen."""
    run_dir = make_run(epochs=2, batch_size=256, backbone="mlp", checkpoint_every=1, linear_probe=True)
    seen = []
    assert run_worker(run_dir, listeners=[seen.append]) == 0
    types = {e["type"] for e in seen}
    assert {"started", "step", "epoch", "eval", "preview", "checkpoint", "embedding", "finished"} <= types
    assert [(e["type"], check_event(e)) for e in seen if check_event(e)] == []
    assert [(e["type"], check_event(e)) for e in read_events(run_dir) if check_event(e)] == []
    for ev in seen:  # previews and snapshots are written whole (temp file, then renamed)
        if "path" in ev:
            assert (run_dir / ev["path"]).is_file(), ev
    assert not [p for p in run_dir.rglob(".*tmp-*")]
