"""The floors the dashboard and the runs table show beside a run's scores: read from the on-disk cache
(workbench.floors), measured in a child process (`ssl-workbench floors RUN --json`) when missing, one at a time."""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, QProcess, QProcessEnvironment, Signal

import workbench
from workbench.config import load_run_config
from workbench.floors import floors_path, floors_key, read_floors
from workbench.rundir import CONFIG_FILE

RECHECK_S = 2.0        # a cached answer is read from disk again after this (another process may have measured)
STDERR_IN_MESSAGE = 1  # lines of a failed measurement's stderr kept as its reason

AUTO_ENV = "SSL_WORKBENCH_FLOORS"  # "off": never measure in the background (read the cache only)
MEASURING = "measuring"
QUEUED = "queued"


class FloorsService(QObject):
    """Floors by run folder. `changed` fires when a measurement starts, ends or fails."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._keys: dict[Path, Path | None] = {}            # run folder -> its floors file (None: no config)
        self._read: dict[Path, tuple[float, dict | None]] = {}  # floors file -> (when read, floors)
        self._queue: list[tuple[Path, Path]] = []          # (floors file, a run folder to measure it with)
        self._failed: dict[Path, str] = {}
        self._proc: QProcess | None = None
        self._current: Path | None = None
        self._stderr = b""

    # --- what the widgets ask -------------------------------------------------------------------
    def floors(self, run_dir: Path | str) -> dict | None:
        """The cached floors of this run's data, method and backbone (None when not measured yet)."""
        target = self._target(Path(run_dir))
        if target is None:
            return None
        when, data = self._read.get(target, (0.0, None))
        if data is None and time.monotonic() - when > RECHECK_S:
            cfg = self._config(Path(run_dir))
            data = read_floors(cfg) if cfg is not None else None
            self._read[target] = (time.monotonic(), data)
        return data

    def knows(self, run_dir: Path | str) -> bool:
        """Whether the run folder has a config to take the floors' data, method and backbone from."""
        return self._target(Path(run_dir)) is not None

    def state(self, run_dir: Path | str) -> str | None:
        """'measuring', 'queued', a failure's one line, or None (cached, or never asked for)."""
        target = self._target(Path(run_dir))
        if target is None:
            return None
        if target == self._current:
            return MEASURING
        if any(t == target for t, _ in self._queue):
            return QUEUED
        return self._failed.get(target)

    def request(self, run_dir: Path | str) -> None:
        """Measure this run's floors unless cached, measuring, queued or failed already."""
        run_dir = Path(run_dir)
        target = self._target(run_dir)
        if os.environ.get(AUTO_ENV, "").lower() == "off" or target is None or self.floors(run_dir) is not None or self.state(run_dir) is not None:
            return
        self._queue.append((target, run_dir))
        self._next()
        self.changed.emit()

    @staticmethod
    def command(run_dir: Path) -> list[str]:
        """The child's command line: the CLI a user would type, niced so training keeps the CPU."""
        cmd = [sys.executable, "-m", "workbench.cli", "floors", str(run_dir.absolute()), "--json"]
        nice = shutil.which("nice")
        return [nice, "-n", "10", *cmd] if nice else cmd

    def stop(self) -> None:
        """End a running measurement (app quit); nothing is cached from it."""
        self._queue.clear()
        proc, self._proc, self._current = self._proc, None, None
        if proc is not None:
            # no callbacks from a process being torn down (they would read a deleted QProcess)
            for signal in (proc.readyReadStandardError, proc.finished, proc.errorOccurred):
                signal.disconnect()
            proc.kill()
            proc.waitForFinished(2_000)

    # --- internals -----------------------------------------------------------------------------
    def _config(self, run_dir: Path):
        try:
            return load_run_config(run_dir / CONFIG_FILE)
        except Exception:  # not a run (yet), or a config another version wrote: no floors to show
            return None

    def _target(self, run_dir: Path) -> Path | None:
        if run_dir not in self._keys or self._keys[run_dir] is None:
            cfg = self._config(run_dir)
            self._keys[run_dir] = floors_path(floors_key(cfg)) if cfg is not None else None
        return self._keys[run_dir]

    def _next(self) -> None:
        if self._proc is not None or not self._queue:
            return
        target, run_dir = self._queue.pop(0)
        self._current, self._stderr = target, b""
        program, *args = self.command(run_dir)
        proc = QProcess(self)
        proc.setProgram(program)
        proc.setArguments(args)
        env = QProcessEnvironment.systemEnvironment()
        # the child must run the same workbench the GUI imported, even from a source checkout
        source_root = str(Path(workbench.__file__).resolve().parent.parent)
        env.insert("PYTHONPATH", os.pathsep.join(p for p in (source_root, env.value("PYTHONPATH", "")) if p))
        proc.setProcessEnvironment(env)
        proc.readyReadStandardError.connect(lambda: self._take_stderr(proc))
        proc.finished.connect(lambda code, status: self._finished(proc, code))
        proc.errorOccurred.connect(lambda error: self._failed_to_start(proc, error))
        self._proc = proc
        proc.start()

    def _take_stderr(self, proc: QProcess) -> None:
        self._stderr += bytes(proc.readAllStandardError())

    def _failed_to_start(self, proc: QProcess, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._finished(proc, -1, f"could not start the measurement: {proc.errorString()}")

    def _finished(self, proc: QProcess, code: int, reason: str = "") -> None:
        if proc is not self._proc:
            return
        self._take_stderr(proc)
        target = self._current
        self._proc, self._current = None, None
        proc.deleteLater()
        if target is not None:
            self._read.pop(target, None)  # read the fresh file on the next ask
            if code != 0:
                lines = [ln for ln in self._stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
                why = reason or (" ".join(lines[-STDERR_IN_MESSAGE:]) if lines else f"exit code {code}")
                self._failed[target] = f"floors not measured: {why}"
        self._next()
        self.changed.emit()


_service: FloorsService | None = None


def service() -> FloorsService:
    """The application's one FloorsService (its measurement ends when the application quits)."""
    global _service
    if _service is None:
        app = QCoreApplication.instance()
        _service = FloorsService(app)
        if app is not None:
            app.aboutToQuit.connect(_service.stop)
    return _service
