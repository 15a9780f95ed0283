"""How long a run would take here: a few real steps timed in a subprocess (workbench.estimate), cached per setup."""
from __future__ import annotations

import json
import math
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QSettings, QTimer, Signal

from workbench.config import RunConfig, save_run_config
from workbench.estimate import describe

SETTINGS_GROUP = "estimates"
MEASURE_MODULE = "workbench.estimate"  # run as `python -m MEASURE_MODULE CONFIG.json`; prints one JSON line


def setup_key(run: RunConfig) -> str:
    """What the time per step depends on (not epochs: the total is rescaled from the cached figures)."""
    return "|".join(str(x) for x in (run.method, run.dataset, run.data_root or "", run.backbone, run.batch_size,
                                     run.image_size, run.device, run.processes, run.threads,
                                     json.dumps(run.method_config, sort_keys=True)))


def total_seconds(figures: dict, run: RunConfig) -> float:
    """The run's length from measured figures: setup + steps × step time + evaluations × evaluation time."""
    evaluations = math.ceil(run.epochs / max(1, run.eval_every))
    return (figures["setup_seconds"] + run.epochs * figures["steps_per_epoch"] * figures["step_seconds"]
            + evaluations * figures["eval_seconds"])


class Estimator(QObject):
    """estimate(run) answers at once from the cache, or measures in a subprocess and emits `estimated`.

    One measurement at a time: asking for another setup kills the one under way, unless asked with
    `wait=True` (the run panel, which asks on every edit): then it is measured after the one under way,
    and only the newest such request is kept. The GUI never waits."""

    estimated = Signal(str, float)  # setup_key, seconds for the run asked about
    failed = Signal(str, str)  # setup_key, why

    def __init__(self, settings: QSettings | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings or QSettings()
        self._process: QProcess | None = None
        self._asked: RunConfig | None = None
        self._next: RunConfig | None = None  # a polite request waiting for the measurement under way
        self._asked_politely = False
        self._tmp = tempfile.TemporaryDirectory(prefix="ssl-estimate-")

    def cached(self, run: RunConfig) -> float | None:
        raw = self.settings.value(f"{SETTINGS_GROUP}/{_safe(setup_key(run))}")
        try:
            return total_seconds(json.loads(raw), run) if raw else None
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self, run: RunConfig) -> str | None:
        seconds = self.cached(run)
        return None if seconds is None else describe(seconds)

    def is_measuring(self) -> bool:
        return self._process is not None

    def estimate(self, run: RunConfig, wait: bool = False) -> None:
        seconds = self.cached(run)
        if seconds is not None:
            self.estimated.emit(setup_key(run), seconds)
            return
        if self._asked is not None and setup_key(self._asked) == setup_key(run):
            self._asked = run  # same setup under way: answer for the newest epochs
            return
        if wait and self._process is not None:
            self._next = run
            return
        if not wait and self._asked is not None and self._asked_politely:
            self._next = self._next or self._asked  # pushed aside, measured after this one
        self.cancel(keep_next=True)
        self._asked, self._asked_politely = run, wait
        path = Path(self._tmp.name) / "config.json"
        save_run_config(replace(run, epochs=1), path)
        process = QProcess(self)
        process.setProgram(sys.executable)
        process.setArguments(["-m", MEASURE_MODULE, str(path)])
        process.finished.connect(lambda code, _status, p=process: self._done(p, code))
        self._process = process
        process.start()

    def cancel(self, keep_next: bool = False, wait: bool = False) -> None:
        """Stop the measurement under way. Not waited for unless `wait` (the app closing): Start cancels it,
        and waiting for the killed process held the GUI thread up to 0.1 s there; it is deleted once it exits."""
        process, self._process, self._asked = self._process, None, None
        if not keep_next:
            self._next = None
        self._asked_politely = False
        if process is not None:
            process.finished.disconnect()
            process.kill()
            if wait:
                process.waitForFinished(2000)
                process.deleteLater()
            else:
                process.finished.connect(process.deleteLater)

    def _done(self, process: QProcess, code: int) -> None:
        if process is not self._process:
            return
        run, self._process, self._asked = self._asked, None, None
        out = bytes(process.readAllStandardOutput()).decode(errors="replace").strip().splitlines()
        err = bytes(process.readAllStandardError()).decode(errors="replace").strip().splitlines()
        process.deleteLater()
        if self._next is not None:  # the polite request waited for this one
            QTimer.singleShot(0, self, lambda: self._next is not None and self._start_next())
        key = setup_key(run)
        try:
            result = json.loads(out[-1]) if code == 0 and out else None
        except ValueError:
            result = None
        if result is None:
            self.failed.emit(key, err[-1] if err else f"the measurement exited with code {code}")
            return
        figures = {"setup_seconds": result["setup_seconds"], "step_seconds": result["step_seconds"],
                   "eval_seconds": result["eval_seconds"], "steps_per_epoch": result["steps"]}
        self.settings.setValue(f"{SETTINGS_GROUP}/{_safe(key)}", json.dumps(figures))
        self.estimated.emit(key, total_seconds(figures, run))


    def _start_next(self) -> None:
        run, self._next = self._next, None
        self.estimate(run, wait=True)


def _safe(key: str) -> str:
    """A QSettings key without the separators it treats specially."""
    import hashlib
    return hashlib.sha1(key.encode()).hexdigest()[:16]
