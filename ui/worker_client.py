"""Runs `python -m workbench.worker RUN_DIR` in a QProcess and turns its JSON-line events into Qt signals."""
from __future__ import annotations

import atexit
import os
import signal
import sys
from collections import deque
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, QProcess, QProcessEnvironment, QTimer, Signal

import workbench
from workbench.config import ConfigError, load_run_config
from workbench.events import command, decode
from workbench.launch import worker_command
from workbench.runs import RunDir, RunStatus

# The process's states ("idle", "starting", "stopping") and, in between, the run's status as
# RunStatus.after derives it from the events: running, paused, finished, stopped, failed.
STATES = ("idle", "starting", "running", "paused", "stopping", "finished", "stopped", "failed")
REFUSED_EXIT = 2  # the worker refused the run before writing any event; stderr says why in one line
STOP_GRACE_MS = 30_000       # a stop waits for the current step and a checkpoint write
TERMINATE_GRACE_MS = 10_000  # after SIGTERM (which the worker treats as stop), before SIGKILL
STDERR_LINES = 50
STDERR_IN_MESSAGE = 8

# Typed signal for each event type; "log" and the lifecycle events are handled separately.
_TYPED = {"step": "step_logged", "eval": "eval_logged", "preview": "preview_ready",
          "embedding": "embedding_ready", "checkpoint": "checkpoint_saved"}


WORKER_NICENESS = 10  # CPU priority of GUI-started workers relative to the window (0 = equal)

class _WorkerProcess(QProcess):
    """A QProcess that can let go of its child, so that deleting it does not kill the worker."""

    def release(self) -> None:
        # ~QProcess kills a child it still considers running; a released one is left alone.
        self.setProcessState(QProcess.NotRunning)


# Detached workers stay referenced here while the GUI runs, so Qt still reaps them (no zombies)
# when they end; at exit they are released so that Python's teardown does not kill them.
_detached: set[_WorkerProcess] = set()
_release_hooked = False


def _release_detached() -> None:
    for proc in list(_detached):
        proc.release()
    _detached.clear()


def _keep_detached(proc: _WorkerProcess) -> None:
    global _release_hooked
    _detached.add(proc)
    proc.finished.connect(lambda *_: (_detached.discard(proc), proc.deleteLater()))
    if not _release_hooked:
        _release_hooked = True
        atexit.register(_release_detached)  # runs before PySide's own teardown (atexit is LIFO)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(_release_detached)


class WorkerClient(QObject):
    """One worker process at a time: start/resume it, send commands, and emit its events.

    Deleting the client kills a worker it still runs; call `detach()` first to leave it running.
    """

    event = Signal(dict)            # every event, in order
    step_logged = Signal(dict)
    eval_logged = Signal(dict)
    preview_ready = Signal(dict)
    embedding_ready = Signal(dict)
    checkpoint_saved = Signal(dict)
    log_message = Signal(str, str)  # level, message
    state_changed = Signal(str)
    run_finished = Signal(dict)     # the `finished` event (finished or stopped)
    run_failed = Signal(str)        # a human message

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._proc: _WorkerProcess | None = None
        self._run_dir: Path | None = None
        self._state = "idle"
        self._stdout = b""
        self._stderr_partial = b""
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._end_event: dict | None = None
        self._status = RunStatus.NEW  # of the run, from this worker's events
        self._killed = False       # kill() was called: not a mystery signal 9
        self._escalated = False    # the stop grace ran out and SIGTERM was sent
        self._stop_timer = QTimer(self)
        self._stop_timer.setSingleShot(True)
        self._stop_timer.timeout.connect(self._stop_overdue)

    # --- properties ------------------------------------------------------------------
    @property
    def run_dir(self) -> Path | None:
        return self._run_dir

    @property
    def state(self) -> str:
        return self._state

    @property
    def pid(self) -> int | None:
        return (self._proc.processId() or None) if self._proc is not None else None

    @property
    def stderr_tail(self) -> list[str]:
        """The last lines the worker wrote to stderr (warnings, tracebacks)."""
        return list(self._stderr)

    def is_running(self) -> bool:
        return self._proc is not None

    # --- lifecycle -------------------------------------------------------------------
    def start(self, run_dir: Path, resume: bool = False) -> None:
        """Start the worker on RUN_DIR (with resume=True, from its last complete checkpoint)."""
        if self._proc is not None:
            raise RuntimeError(f"a worker is already running {self._run_dir}; stop it first")
        self._run_dir = Path(run_dir)
        self._stdout, self._stderr_partial = b"", b""
        self._stderr.clear()
        self._end_event, self._killed, self._escalated = None, False, False
        self._status = RunStatus.NEW

        proc = _WorkerProcess(self)
        proc.setProgram(sys.executable)
        # --nice: the worker yields the CPU to the window, so the GUI stays responsive on small machines
        # several processes: the same launcher as `ssl-workbench train --nproc N`; rank 0's
        # events arrive on stdout and it reads the commands, exactly as a lone worker does
        try:
            processes = load_run_config(RunDir(self._run_dir).config).processes
        except ConfigError:
            processes = 1  # the worker reports the broken config as the run's failure
        proc.setArguments(worker_command(self._run_dir.absolute(), processes, resume, WORKER_NICENESS))
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        # The worker must run the same workbench the GUI imported, even from a source checkout.
        source_root = str(Path(workbench.__file__).resolve().parent.parent)
        env.insert("PYTHONPATH", os.pathsep.join(p for p in (source_root, env.value("PYTHONPATH", "")) if p))
        proc.setProcessEnvironment(env)
        if hasattr(proc, "setUnixProcessParameters"):
            # Its own session: a detached worker survives the terminal that started the GUI
            # closing (SIGHUP) and Ctrl+C there.
            params = QProcess.UnixProcessParameters()
            params.flags = QProcess.UnixProcessFlag.CreateNewSession
            proc.setUnixProcessParameters(params)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self._proc = proc
        self._set_state("starting")
        proc.start()

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def snapshot(self) -> None:
        """Ask for probe-set embeddings now (arrives as embedding_ready)."""
        self._send("snapshot")

    def request_preview(self) -> None:
        self._send("preview")

    def stop(self) -> None:
        """Checkpoint and exit; escalate to SIGTERM, then SIGKILL, if the worker does not end."""
        if self._proc is None or self._state == "stopping":
            return
        self._send("stop")
        self._set_state("stopping")
        self._stop_timer.start(STOP_GRACE_MS)

    def kill(self) -> None:
        """Hard kill (emergencies and tests); the run keeps its last checkpoint."""
        if self._proc is not None:
            self._killed = True
            self._proc.kill()

    def detach(self) -> int | None:
        """Stop following the worker and let it run on after this client and the GUI are gone.

        Returns its process id. The run goes on writing events.jsonl; SIGTERM stops it.
        """
        proc = self._proc
        if proc is None:
            return None
        pid = proc.processId()
        self._stop_timer.stop()
        for sig, slot in ((proc.readyReadStandardOutput, self._read_stdout),
                          (proc.readyReadStandardError, self._read_stderr),
                          (proc.finished, self._on_finished), (proc.errorOccurred, self._on_error)):
            sig.disconnect(slot)
        # stdin EOF just ends the worker's command reader; Qt discards whatever arrives on the
        # closed read channels, so the worker never blocks on a full pipe while the GUI lives.
        proc.closeWriteChannel()
        proc.closeReadChannel(QProcess.StandardOutput)
        proc.closeReadChannel(QProcess.StandardError)
        proc.setParent(None)
        _keep_detached(proc)
        self._proc = None
        self._set_state("idle")
        return pid

    # --- process I/O -------------------------------------------------------------------
    def _send(self, name: str) -> None:
        if self._proc is not None and self._state in ("starting", "running", "paused", "stopping"):
            # Commands written before the worker reads stdin wait in the pipe: nothing is lost.
            self._proc.write(command(name).encode())

    def _read_stdout(self) -> None:
        if self._proc is None:
            return
        self._stdout += bytes(self._proc.readAllStandardOutput())
        *lines, self._stdout = self._stdout.split(b"\n")
        for line in lines:
            self._dispatch_line(line)

    def _read_stderr(self) -> None:
        if self._proc is None:
            return
        self._stderr_partial += bytes(self._proc.readAllStandardError())
        *lines, self._stderr_partial = self._stderr_partial.split(b"\n")
        for line in lines:
            self._stderr.append(line.decode("utf-8", "replace").rstrip("\r"))

    def _dispatch_line(self, line: bytes) -> None:
        ev = decode(line.decode("utf-8", "replace"))
        if ev is None:
            return  # a stray print or a line cut by a crash
        kind = ev["type"]
        self._status = self._status.after(ev)
        self.event.emit(ev)
        if kind in _TYPED:
            getattr(self, _TYPED[kind]).emit(ev)
        elif kind == "log":
            self.log_message.emit(str(ev.get("level", "info")), str(ev.get("message", "")))
        if self._status.ended:
            # Reported once the process has exited, so that a new run can start right away.
            self._end_event = ev
        elif self._status.active and self._state != "stopping":
            self._set_state(self._status.value)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error != QProcess.FailedToStart or self._proc is None:
            return  # crashes are reported by finished, which follows
        reason = self._proc.errorString()
        self._clear_process()
        self._set_state(RunStatus.FAILED.value)
        self.run_failed.emit(f"Could not start the training process ({sys.executable}): {reason}")

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self._read_stderr()
        if self._stdout.strip():
            self._dispatch_line(self._stdout)
        if self._stderr_partial.strip():
            self._stderr.append(self._stderr_partial.decode("utf-8", "replace").rstrip())
        crashed = exit_status == QProcess.CrashExit
        self._clear_process()
        end = self._end_event
        refusal = self._refusal(exit_code, crashed)
        if end is not None and self._status is not RunStatus.FAILED:
            self._set_state(self._status.value)
            self.run_finished.emit(end)
        elif end is not None:
            self._set_state(RunStatus.FAILED.value)
            self.run_failed.emit(str(end.get("message") or "training failed"))
        elif refusal:
            self._set_state(RunStatus.FAILED.value)
            self.run_failed.emit(refusal)
        else:
            self._set_state(RunStatus.FAILED.value)
            self.run_failed.emit(self._unexpected_end(exit_code, crashed))

    def _refusal(self, exit_code: int, crashed: bool) -> str:
        """The worker's one-line reason for refusing the run (another worker on it, links out of
        the folder, nothing to resume from), or "" if it did not refuse."""
        if crashed or exit_code != REFUSED_EXIT or self._status is not RunStatus.NEW:
            return ""
        reasons = [line[len("error: "):] for line in self._stderr if line.startswith("error: ")]
        return reasons[-1] if reasons else ""

    def _unexpected_end(self, exit_code: int, crashed: bool) -> str:
        if crashed:
            # On Unix Qt reports the terminating signal as the exit code of a crash.
            try:
                name = f"signal {exit_code} ({signal.Signals(exit_code).name})"
            except ValueError:
                name = f"signal {exit_code}" if exit_code else "a crash"
            how = f"killed by {name}" if exit_code else "it crashed"
        else:
            how = f"exit code {exit_code}"
        text = f"The training process ended unexpectedly ({how})."
        if self._killed:
            text = f"The training process was killed ({how})."
        elif self._escalated:
            text = f"The training process did not stop when asked and was ended ({how})."
        elif crashed and exit_code == getattr(signal, "SIGKILL", -1):
            text += " This is often the system running out of memory."
        if self._run_dir is not None and RunDir(self._run_dir).resume_checkpoint() is not None:
            text += " The last checkpoint is kept: use Resume to continue."
        else:
            text += " It had not saved a checkpoint yet, so the run has to start again."
        tail = [line for line in self._stderr if line.strip()][-STDERR_IN_MESSAGE:]
        if tail:
            text += "\n\nLast output:\n" + "\n".join(tail)
        return text

    def _stop_overdue(self) -> None:
        if self._proc is None:
            return
        if not self._escalated:
            self._escalated = True
            self._proc.terminate()
            self._stop_timer.start(TERMINATE_GRACE_MS)
        else:
            self._proc.kill()

    def _clear_process(self) -> None:
        self._stop_timer.stop()
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.deleteLater()

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)


if __name__ == "__main__":
    # Quick look: python -m ui.worker_client RUN_DIR [--resume] — prints the events as they come.
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ui.worker_client")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    app = QCoreApplication(sys.argv)
    client = WorkerClient()
    client.state_changed.connect(lambda s: print(f"[state] {s}", flush=True))
    client.event.connect(lambda ev: print(f"[{ev['type']}] step {ev['step']} epoch {ev['epoch']}",
                                          flush=True))
    client.run_failed.connect(lambda msg: print(f"[failed] {msg}", flush=True))
    client.state_changed.connect(lambda s: app.quit() if s in ("finished", "stopped", "failed") else None)
    client.start(args.run_dir, resume=args.resume)
    sys.exit(app.exec())
