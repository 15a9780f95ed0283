"""Run directories: layout, creation, listing, and status derived from their events."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import RunConfig, load_run_config, save_run_config, ConfigError
from .events import read_events

CONFIG_FILE = "config.json"
CHECKPOINTS = "checkpoints"
PREVIEWS = "previews"
EMBEDDINGS = "embeddings"
PID_FILE = "worker.pid"  # present while a worker runs this directory


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
    path = Path(path)
    if (path / CONFIG_FILE).exists():
        raise ConfigError(f"{path} already holds a run; use `ssl-workbench resume {path}`")
    for sub in (CHECKPOINTS, PREVIEWS, EMBEDDINGS):
        (path / sub).mkdir(parents=True, exist_ok=True)
    save_run_config(run, path / CONFIG_FILE)
    return path


def is_run_dir(path: Path) -> bool:
    return (Path(path) / CONFIG_FILE).is_file()


@dataclass
class RunSummary:
    """What the runs browser and `ssl-workbench eval` show about a run at a glance."""

    path: Path
    method: str
    dataset: str
    status: str  # new | running | paused | stopped | finished | failed
    epochs: int
    epoch: int = 0
    step: int = 0
    best_knn: float | None = None
    last_knn: float | None = None
    linear: float | None = None
    scores: dict[str, float] = field(default_factory=dict)  # the last eval's other scores (analogies, word ρ)
    message: str = ""
    started: float | None = None
    updated: float | None = None
    checkpoints: list[str] = field(default_factory=list)


def summarize(path: Path) -> RunSummary:
    """Status from the durable events: the last lifecycle event decides."""
    path = Path(path)
    cfg = load_run_config(path / CONFIG_FILE)
    s = RunSummary(path=path, method=cfg.method, dataset=cfg.dataset, status="new", epochs=cfg.epochs)
    for ev in read_events(path):
        kind = ev["type"]
        s.step, s.epoch, s.updated = ev.get("step", s.step), ev.get("epoch", s.epoch), ev.get("t")
        if kind == "started":
            s.status, s.started = "running", s.started or ev.get("t")
        elif kind == "paused":
            s.status = "paused"
        elif kind == "resumed":
            s.status = "running"
        elif kind == "finished":
            s.status = "stopped" if ev.get("stopped") else "finished"
            s.message = ev.get("message", "")
        elif kind == "failed":
            s.status, s.message = "failed", ev.get("message", "")
        elif kind == "eval":
            if "knn_top1" in ev:
                s.last_knn = ev["knn_top1"]
            if "knn_best" in ev:
                s.best_knn = ev["knn_best"]
            if "linear_top1" in ev:
                s.linear = ev["linear_top1"]
            if ev.get("scores"):
                s.scores = dict(ev["scores"])
    if s.status in ("running", "paused") and not worker_alive(path):
        s.status = "interrupted"  # killed without a word: resumable from its last checkpoint
    ck = path / CHECKPOINTS
    s.checkpoints = sorted(p.name for p in ck.glob("*.pt")) if ck.is_dir() else []
    return s


def worker_alive(path: Path) -> bool:
    """Whether the process named in RUN_DIR/worker.pid still exists."""
    try:
        pid = int((Path(path) / PID_FILE).read_text().strip())
        if pid <= 0:
            return False
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


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
