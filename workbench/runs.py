"""Runs: status from events (the one derivation), creation, summaries, listing and scanning."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Callable, Iterable

from .config import RunConfig, load_run_config, save_run_config, ConfigError
from .events import EVENTS_FILE, read_events
from .rundir import (BEST, CHECKPOINTS, CONFIG_FILE, EMBEDDINGS, LAST, LOCK_FILE, PID_FILE, PREVIEWS,
                     RunDir, RunDirError)

__all__ = ["RunStatus", "run_status", "RunDir", "RunDirError", "RunSummary", "RunRow", "summarize",
           "scan_runs", "list_runs", "create_run_dir", "is_run_dir", "worker_alive", "default_runs_root",
           "CONFIG_FILE", "EVENTS_FILE", "CHECKPOINTS", "PREVIEWS", "EMBEDDINGS", "PID_FILE", "LOCK_FILE", "LAST", "BEST"]


class RunStatus(StrEnum):
    """Where a run stands. `after(event)` and `settled(alive)` are the only derivation of it."""

    NEW = "new"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def active(self) -> bool:
        """A worker is (meant to be) on it: it must not be deleted or started again."""
        return self in (RunStatus.RUNNING, RunStatus.PAUSED)

    @property
    def resumable(self) -> bool:
        """Resume continues it from its last checkpoint (a finished run needs more epochs first)."""
        return self in (RunStatus.STOPPED, RunStatus.INTERRUPTED, RunStatus.FAILED)

    @property
    def ended(self) -> bool:
        """Its worker has said its last word (finished, stopped or failed)."""
        return self in (RunStatus.STOPPED, RunStatus.FINISHED, RunStatus.FAILED)

    @property
    def help(self) -> str:
        return _STATUS_HELP[self]

    def after(self, event: dict) -> RunStatus:
        """The status once `event` has happened."""
        kind = event.get("type")
        if kind in ("started", "resumed"):
            return RunStatus.RUNNING
        if kind == "paused":
            return RunStatus.PAUSED
        if kind == "finished":
            return RunStatus.STOPPED if event.get("stopped") else RunStatus.FINISHED
        if kind == "failed":
            return RunStatus.FAILED
        if kind in ("step", "epoch") and self in (RunStatus.NEW, RunStatus.PAUSED, RunStatus.INTERRUPTED):
            return RunStatus.RUNNING  # training goes on although its lifecycle line was lost
        return self

    def settled(self, worker_alive: bool | Callable[[], bool]) -> RunStatus:
        """An active status whose worker is gone is `interrupted`: killed without a word.
        `worker_alive` may be a function, asked only when the status is active."""
        if not self.active:
            return self
        alive = worker_alive() if callable(worker_alive) else worker_alive
        return self if alive else RunStatus.INTERRUPTED


_STATUS_HELP = {
    RunStatus.RUNNING: "A worker is training this run now.",
    RunStatus.PAUSED: "Paused; its worker waits for Resume.",
    RunStatus.FINISHED: "Trained to the end.",
    RunStatus.STOPPED: "Stopped before the end; Resume continues from its last checkpoint.",
    RunStatus.INTERRUPTED: "Its worker ended without a word (killed or crashed); Resume continues from its "
                           "last checkpoint.",
    RunStatus.FAILED: "Training failed.",
    RunStatus.NEW: "Created but not started yet.",
}


def run_status(events: Iterable[dict], worker_alive: bool | Callable[[], bool]) -> RunStatus:
    """A run's status from its events and whether its worker holds the run's lock."""
    status = RunStatus.NEW
    for event in events:
        status = status.after(event)
    return status.settled(worker_alive)


def default_runs_root() -> Path:
    """Where runs go unless told otherwise: $SSL_WORKBENCH_RUNS or ./runs."""
    return Path(os.environ.get("SSL_WORKBENCH_RUNS", "runs"))


def create_run_dir(run: RunConfig, root: Path | None = None, path: Path | None = None) -> Path:
    """Make runs/<YYYYmmdd-HHMMSS>-<method>-<dataset>/ (or `path`) and write config.json."""
    if path is None:
        root = Path(root) if root is not None else default_runs_root()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = root / f"{stamp}-{run.method}-{run.dataset}"
        n = 2
        while path.exists():
            path = root / f"{stamp}-{run.method}-{run.dataset}-{n}"
            n += 1
    layout = RunDir(path)
    if layout.config.exists():
        raise ConfigError(f"{path} already holds a run; use `ssl-workbench resume {path}`")
    for sub in (layout.checkpoints, layout.previews, layout.embeddings):
        sub.mkdir(parents=True, exist_ok=True)
    save_run_config(run, layout.config)
    return layout.path


def is_run_dir(path: Path) -> bool:
    return RunDir(path).is_run()


@dataclass
class RunSummary:
    """What the runs browser and `ssl-workbench eval` show about a run at a glance."""

    path: Path
    method: str
    dataset: str
    status: RunStatus
    epochs: int
    epoch: int = 0
    step: int = 0
    best_knn: float | None = None
    last_knn: float | None = None
    linear: float | None = None
    scores: dict[str, float] = field(default_factory=dict)  # the last eval's other scores (analogies, word ρ)
    coverage: dict[str, list[int]] = field(default_factory=dict)  # word benchmarks' [pairs found, total]
    test_size: int | None = None  # items kNN is measured on (how noisy it is)
    message: str = ""
    started: float | None = None
    updated: float | None = None
    checkpoints: list[str] = field(default_factory=list)


def summarize(path: Path) -> RunSummary:
    """A run at a glance, from its durable events (`run_status` decides the status)."""
    layout = RunDir(path)
    cfg = load_run_config(layout.config)
    s = RunSummary(path=layout.path, method=cfg.method, dataset=cfg.dataset, status=RunStatus.NEW,
                   epochs=cfg.epochs)
    status = RunStatus.NEW
    for ev in read_events(layout.path):
        kind = ev["type"]
        status = status.after(ev)
        s.step, s.epoch, s.updated = ev.get("step", s.step), ev.get("epoch", s.epoch), ev.get("t")
        if kind == "started":
            s.started = s.started or ev.get("t")
            s.test_size = ev.get("test_size", s.test_size)
        elif kind in ("finished", "failed"):
            s.message = ev.get("message", "")
        elif kind == "eval":
            if "knn_top1" in ev:
                s.last_knn = ev["knn_top1"]
            if "knn_best" in ev:
                s.best_knn = ev["knn_best"]
            if "linear_top1" in ev:
                s.linear = ev["linear_top1"]
            if ev.get("scores"):
                s.scores = dict(ev["scores"])
            if isinstance(ev.get("coverage"), dict):
                s.coverage = dict(ev["coverage"])
    s.status = status.settled(lambda: worker_alive(layout.path))
    s.checkpoints = layout.checkpoint_names()
    return s


def worker_alive(path: Path) -> bool:
    """Whether a worker trains the run now: it holds the run's lock (worker.pid is only a hint)."""
    return RunDir(path).is_locked()


@dataclass(frozen=True)
class RunRow:
    """One run in a scan of a runs folder."""

    summary: RunSummary
    created: float  # config.json's time: orders runs that have not started yet


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _signature(layout: RunDir) -> tuple:
    """What changes when a run's summary can change (a killed worker is checked separately)."""
    return (_stat(layout.events), _stat(layout.config), layout.pid_file.exists(), layout.last.exists())


def scan_runs(root: Path, cache: dict) -> tuple[list[RunRow], dict]:
    """Summaries of every run directly under root, re-reading only runs whose files changed.

    `cache` maps path -> (signature, RunRow) from the previous scan; the new cache is returned.
    Safe to run on a worker thread: plain files and data only.
    """
    rows, fresh = [], {}
    try:
        children = sorted(p for p in Path(root).iterdir() if is_run_dir(p))
    except OSError:
        children = []
    for path in children:
        layout = RunDir(path)
        sig = _signature(layout)
        hit = cache.get(path)
        cached = hit[1].summary.status if hit is not None and hit[0] == sig else None
        if cached is not None and cached.settled(lambda: worker_alive(path)) is cached:
            row = hit[1]  # same files, and its worker (if it had one) still holds the lock
        else:
            try:
                summary = summarize(path)
                created = layout.config.stat().st_mtime
            except (ConfigError, OSError, ValueError, TypeError, KeyError):
                continue  # half-written or foreign folder: not a run we can show
            row = RunRow(summary, created)
        fresh[path] = (sig, row)
        rows.append(row)
    return rows, fresh


def list_runs(root: Path | None = None) -> list[RunSummary]:
    """Every run directory directly under root, newest first; unreadable ones are skipped."""
    root = Path(root) if root is not None else default_runs_root()
    out = []
    if root.is_dir():
        for child in root.iterdir():
            if is_run_dir(child):
                try:
                    out.append(summarize(child))
                except (ConfigError, OSError):
                    continue
    return sorted(out, key=lambda s: s.path.name, reverse=True)
