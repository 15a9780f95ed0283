"""Runs `ssl-workbench export … --json` in a QProcess, so a crash while writing HDF5 cannot take the GUI down."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, QProcess, QProcessEnvironment, QTimer, Signal

import workbench
from workbench.export import temp_files

# After Cancel (SIGTERM) the export stops at its next cancel check; past this it is killed.
KILL_AFTER_MS = 5_000
# Lines of the process's stderr quoted when it ends without saying why.
STDERR_IN_MESSAGE = 3

# Exports still running, kept alive here after their dialog is gone so they end cleanly (their
# temporary file removed) instead of being killed by ~QProcess with the dialog.
_running: set[ExportProcess] = set()
_quit_hooked = False


def _end_all() -> None:
    """At quit: stop every export, wait a moment, and remove what it leaves behind."""
    for job in list(_running):
        job.end_now()


class ExportProcess(QObject):
    """One export in a child process; progress, result and cancel as Qt signals.

    The child is `python -m workbench.cli export RUN --out OUT … --json`: the same command a
    user types, reporting {"type": "progress" | "done" | "failed" | "cancelled", …} lines on
    stdout. A crash inside the HDF5 library ends only the child; the dialog reports it. Cancel
    sends SIGTERM (the export deletes its temporary file and exits), then SIGKILL after
    KILL_AFTER_MS; whatever temporary file a killed child leaves is removed here.
    """

    progress = Signal(float, str)
    done = Signal(object)        # the Path written
    failed = Signal(str)         # one line (a crash adds the last lines of stderr)
    cancelled = Signal()
    ended = Signal()             # after any of done / failed / cancelled

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._proc: QProcess | None = None
        self._out: Path | None = None
        self._pid = 0
        self._stdout = b""
        self._stderr = b""
        self._result: dict | None = None
        self._cancelling = False
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)

    def is_running(self) -> bool:
        return self._proc is not None

    def start(self, run_dir: Path, out: Path, split: str, projections: list[str], checkpoint: str,
              force: bool = False, device: str = "auto", compression: str = "none") -> ExportProcess:
        if self._proc is not None:
            raise RuntimeError("this export is already running")
        self._out = Path(out).absolute()
        self._stdout, self._stderr, self._result, self._cancelling = b"", b"", None, False
        proc = QProcess()  # no parent: it must outlive a dialog closed mid-export (see _running)
        proc.setProgram(sys.executable)
        proc.setArguments(self.arguments(Path(run_dir).absolute(), self._out, split, projections,
                                         checkpoint, force, device, compression))
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        # the child must run the same workbench the GUI imported, even from a source checkout
        source_root = str(Path(workbench.__file__).resolve().parent.parent)
        env.insert("PYTHONPATH", os.pathsep.join(p for p in (source_root, env.value("PYTHONPATH", "")) if p))
        proc.setProcessEnvironment(env)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.started.connect(lambda: setattr(self, "_pid", int(proc.processId())))
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self._proc = proc
        _running.add(self)
        _hook_quit()
        proc.start()
        return self

    @staticmethod
    def arguments(run_dir: Path, out: Path, split: str, projections: list[str], checkpoint: str,
                  force: bool, device: str, compression: str = "none") -> list[str]:
        """The child's command line after the Python executable."""
        return (["-m", "workbench.cli", "export", str(run_dir), "--out", str(out), "--split", split,
                 "--projection", ",".join(projections), "--checkpoint", checkpoint, "--device", device,
                 "--compression", compression, "--json"] + (["--force"] if force else []))

    def cancel(self) -> None:
        """Ask the export to stop; `cancelled` follows when the process has ended."""
        if self._proc is None or self._cancelling:
            return
        self._cancelling = True
        self._proc.terminate()
        self._kill_timer.start(KILL_AFTER_MS)

    def end_now(self, wait_ms: int = 3_000) -> None:
        """Stop the export and wait for it (app quit): nothing half-written stays behind."""
        proc = self._proc
        if proc is None:
            return
        self._cancelling = True
        proc.terminate()
        if not proc.waitForFinished(wait_ms):
            proc.kill()
            proc.waitForFinished(wait_ms)
        if self._proc is not None:  # finished was not delivered by the event loop
            self._on_finished(proc.exitCode(), proc.exitStatus())

    # --- process I/O -------------------------------------------------------------------------
    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()

    def _read_stdout(self) -> None:
        if self._proc is None:
            return
        self._stdout += bytes(self._proc.readAllStandardOutput())
        *lines, self._stdout = self._stdout.split(b"\n")
        for line in lines:
            self._dispatch(line)

    def _read_stderr(self) -> None:
        if self._proc is not None:
            self._stderr += bytes(self._proc.readAllStandardError())

    def _dispatch(self, line: bytes) -> None:
        try:
            msg = json.loads(line.decode("utf-8", "replace"))
        except json.JSONDecodeError:
            return  # a stray print, or a line cut short by a crash
        if not isinstance(msg, dict):
            return
        if msg.get("type") == "progress" and not self._cancelling:
            self.progress.emit(float(msg.get("fraction", 0.0)), str(msg.get("stage", "")))
        elif msg.get("type") in ("done", "failed", "cancelled"):
            self._result = msg

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.FailedToStart and self._proc is not None:
            reason = self._proc.errorString()
            self._clear()
            self.failed.emit(f"could not start the export process ({sys.executable}): {reason}")
            self.ended.emit()

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        if self._proc is None:
            return
        self._read_stdout()
        self._read_stderr()
        if self._stdout.strip():
            self._dispatch(self._stdout)
        crashed = exit_status == QProcess.CrashExit
        result, cancelling = self._result, self._cancelling
        self._clear()
        if result is not None and result["type"] == "done" and not crashed and exit_code == 0:
            self.done.emit(Path(result["path"]))
        elif cancelling:
            self.cancelled.emit()
        elif result is not None and result["type"] == "failed":
            self.failed.emit(str(result.get("message") or "export failed"))
        else:
            self.failed.emit(self._unexpected_end(exit_code, crashed))
        self.ended.emit()

    def _unexpected_end(self, exit_code: int, crashed: bool) -> str:
        if crashed:
            try:  # on Unix Qt reports the terminating signal as the exit code of a crash
                how = f"it crashed with signal {exit_code} ({signal.Signals(exit_code).name})"
            except ValueError:
                how = "it crashed"
        else:
            how = f"exit code {exit_code}"
        text = f"the export process ended unexpectedly ({how}); nothing was written to {self._out}"
        lines = [line for line in self._stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        errors = [line.split("error: ", 1)[1] for line in lines if line.startswith("ssl-workbench: error: ")]
        if errors and not crashed:
            return errors[-1]
        if lines:
            text += " · last output: " + " | ".join(lines[-STDERR_IN_MESSAGE:])
        return text

    def _clear(self) -> None:
        """Forget the ended process and remove any temporary file it left (a kill, a crash)."""
        self._kill_timer.stop()
        proc, self._proc = self._proc, None
        if self._out is not None and self._pid:
            for leftover in temp_files(self._out, self._pid):
                with contextlib.suppress(OSError):
                    leftover.unlink()
        _running.discard(self)
        if proc is not None:
            proc.deleteLater()


def _hook_quit() -> None:
    global _quit_hooked
    app = QCoreApplication.instance()
    if not _quit_hooked and app is not None:
        _quit_hooked = True
        app.aboutToQuit.connect(_end_all)
