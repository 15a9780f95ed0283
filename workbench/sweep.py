"""A time-boxed search over a method's settings with Optuna: every trial is a normal run folder, ranked by kNN."""
from __future__ import annotations

import dataclasses
import json
import math
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .config import ConfigError, apply_overrides, method_config, new_run_config, validate

# What a sweep may vary, when the method has the setting: (kind, low, high) or ("choice", values).
SPACE: dict[str, tuple] = {
    "lr": ("log", 3e-4, 3e-3),
    "batch_size": ("choice", (64, 128, 256)),
    "temperature": ("log", 0.1, 1.0),
    # up to whole images: uncropped views with `shift` made the shapes best recipe
    "crop_min": ("float", 0.2, 1.0),
    # moves a view without rescaling it: position stops telling images apart, size does not
    # (on shapes 0.3 beat 0.2 and 0.4; docs/BENCHMARKS.md, Recipes and sweeps)
    "shift": ("float", 0.0, 0.4),
    "jitter": ("float", 0.0, 0.8),
    "tau_base": ("float", 0.9, 0.996),
    "sim_weight": ("float", 5.0, 50.0),
    "var_weight": ("float", 5.0, 50.0),
}


@dataclass
class Trial:
    """One finished (or failed) trial: its run folder, the settings it tried and its scores."""

    number: int
    run_dir: Path
    settings: dict
    knn: float | None = None
    linear: float | None = None
    analogy: float | None = None
    seconds: float | None = None
    status: str = "finished"
    extra: dict = field(default_factory=dict)


def search_space(method_config_cls: type, names: list[str] | None = None) -> dict[str, tuple]:
    """The part of SPACE this method can take (RunConfig fields and its own settings); `names`
    narrows it and must all be known."""
    own = {f.name for f in dataclasses.fields(method_config_cls)}
    allowed = {k: v for k, v in SPACE.items() if k in own or k in ("lr", "batch_size")}
    if names:
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise ConfigError(f"cannot sweep {', '.join(unknown)} for this method; sweepable: {', '.join(allowed)}")
        allowed = {k: allowed[k] for k in names}
    return allowed


def _suggest(trial, name: str, spec: tuple):
    kind = spec[0]
    if kind == "log":
        return trial.suggest_float(name, spec[1], spec[2], log=True)
    if kind == "float":
        return trial.suggest_float(name, spec[1], spec[2])
    return trial.suggest_categorical(name, list(spec[1]))


def _scores(run_dir: Path) -> dict:
    """kNN (last evaluation), linear probe, analogy top-1 and seconds from a trial's events."""
    from .events import read_events
    out: dict = {}
    for ev in read_events(run_dir):
        if ev["type"] == "eval":
            if "knn_top1" in ev:
                out["knn"] = ev["knn_top1"]
            if "linear_top1" in ev:
                out["linear"] = ev["linear_top1"]
            if "analogy top-1" in (ev.get("scores") or {}):
                out["analogy"] = ev["scores"]["analogy top-1"]
        elif ev["type"] == "finished":
            out["seconds"] = ev.get("seconds")
            out["status"] = "stopped" if ev.get("stopped") else "finished"
        elif ev["type"] == "failed":
            out["status"] = "failed"
            out["message"] = ev.get("message", "")
    return out


def run_sweep(method: str, dataset: str, budget_s: float, max_trials: int, runs_root: Path,
              fixed: list[str] | None = None, names: list[str] | None = None, epochs: int = 1,
              device: str = "auto", seed: int = 0, sampler: str = "tpe",
              on_trial: Callable[[Trial], None] | None = None) -> list[Trial]:
    """Run trials until max_trials or budget_s seconds have passed (checked between trials: a
    trial once started runs to its end). `fixed` holds --set style key=value pairs every trial
    shares. Returns the trials ranked best first (kNN, then linear probe)."""
    import optuna

    from .registry import get_method
    from .runs import create_run_dir
    from .worker import run_worker

    cls = get_method(method)
    space = search_space(cls.Config, names)
    base = new_run_config(method, dataset, cls.run_defaults, epochs=epochs, device=device, seed=seed)
    apply_overrides(base, cls.Config, fixed or [])
    validate(base)
    method_config(base, cls.Config)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs_root = Path(runs_root)
    trials: list[Trial] = []
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    chosen = (optuna.samplers.RandomSampler(seed=seed) if sampler == "random"
              else optuna.samplers.TPESampler(seed=seed))
    study = optuna.create_study(direction="maximize", sampler=chosen)
    deadline = time.monotonic() + budget_s
    summary = runs_root / "sweeps" / f"{stamp}-{method}-{dataset}.json"

    def objective(trial) -> float:
        settings = {name: _suggest(trial, name, spec) for name, spec in space.items()}
        run = dataclasses.replace(base, method_config=dict(base.method_config))
        own = {f.name for f in dataclasses.fields(cls.Config)}
        for key, value in settings.items():
            if key in own:
                run.method_config[key] = value
            else:
                setattr(run, key, value)
        validate(run)
        method_config(run, cls.Config)
        run_dir = create_run_dir(run, path=runs_root / f"{stamp}-sweep-{method}-{dataset}-t{trial.number + 1:02d}")
        code = run_worker(run_dir, commands=queue.Queue())
        scores = _scores(run_dir)
        done = Trial(trial.number + 1, run_dir, settings, scores.get("knn"), scores.get("linear"),
                     scores.get("analogy"), scores.get("seconds"),
                     scores.get("status", "failed" if code else "finished"),
                     {"message": scores["message"]} if "message" in scores else {})
        trials.append(done)
        _write_summary(summary, method, dataset, budget_s, rank(trials))  # after every trial: nothing lost
        if on_trial is not None:
            on_trial(done)
        if done.knn is None or (isinstance(done.knn, float) and math.isnan(done.knn)):
            raise optuna.TrialPruned()  # no score: Optuna leaves it out of its model
        return float(done.knn)

    def out_of_time(study, trial) -> None:
        if time.monotonic() >= deadline:
            study.stop()

    study.optimize(objective, n_trials=max_trials, callbacks=[out_of_time], catch=())
    return rank(trials)


def rank(trials: list[Trial]) -> list[Trial]:
    """Best first: kNN, then the linear probe; trials without a score last."""
    def key(t: Trial):
        knn = t.knn if isinstance(t.knn, (int, float)) and not math.isnan(t.knn) else -1.0
        return (-knn, -(t.linear or 0.0), t.number)
    return sorted(trials, key=key)


def _write_summary(path: Path, method: str, dataset: str, budget_s: float, ranked: list[Trial]) -> None:
    from .rundir import write_atomic
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{**dataclasses.asdict(t), "run_dir": str(t.run_dir)} for t in ranked]
    write_atomic(path, (json.dumps({"method": method, "dataset": dataset, "budget_s": budget_s,
                                    "trials": rows}, indent=2) + "\n").encode())


def _fmt(value, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def format_table(ranked: list[Trial]) -> str:
    """The ranked trials as a Markdown table (what `ssl-workbench sweep` prints)."""
    lines = ["| rank | trial | kNN | linear | analogy | seconds | settings | run |",
             "|---:|---:|---:|---:|---:|---:|---|---|"]
    for i, t in enumerate(ranked, 1):
        settings = ", ".join(f"{k}={_fmt(v, 4) if isinstance(v, float) else v}" for k, v in t.settings.items())
        status = "" if t.status == "finished" else f" ({t.status})"
        lines.append(f"| {i} | {t.number}{status} | {_fmt(t.knn)} | {_fmt(t.linear)} | {_fmt(t.analogy)} | "
                     f"{_fmt(t.seconds, 1)} | {settings} | {t.run_dir.name} |")
    return "\n".join(lines)
