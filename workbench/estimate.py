"""`python -m workbench.estimate CONFIG.json`: time a few real training steps of a run and say how long it would take.

The GUI runs this in a subprocess before Start (never in its own process: it imports torch), and
prints one JSON line: {"seconds": total, "step_seconds": ..., "steps": ..., "eval_seconds": ...}.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

MEASURED_STEPS = 3  # after one warm-up step: enough to average out timer noise, quick on a CPU


@dataclass
class Estimate:
    seconds: float  # the whole run: training steps + evaluations + setup
    step_seconds: float  # one optimiser step, measured
    steps: int  # optimiser steps in the run
    eval_seconds: float  # one evaluation (embedding the train and test splits), estimated
    setup_seconds: float  # loading data and building the model, measured


def estimate_run(run) -> Estimate:
    """Build the run's method on its data and device, time MEASURED_STEPS optimiser steps and one
    embedding batch, and extrapolate to the run's epochs (as the trainer counts them)."""
    import math

    import torch

    from workbench.api import Batch
    from workbench.build import build
    from workbench.data.base import model_input
    from workbench.optim import build_optimizer

    t0 = time.perf_counter()
    if run.threads:
        torch.set_num_threads(run.threads)
    built = build(run)
    method, data, device = built.method, built.dataset, built.device
    optimizer = build_optimizer(method.parameters(), run)
    n_train = len(data.x_train)
    batch_size = min(run.batch_size, n_train)
    steps_per_epoch = max(1, n_train // batch_size)
    setup = time.perf_counter() - t0

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step(i: int) -> None:
        rows = torch.arange(i * batch_size, (i + 1) * batch_size) % n_train
        x = model_input(data.x_train[rows]).to(device)
        out = method.training_step(Batch(x, data.y_train[rows].to(device), rows.to(device)))
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()

    method.train()
    step(0)  # warm-up: first-call allocations and kernel choices
    sync()
    t1 = time.perf_counter()
    for i in range(1, MEASURED_STEPS + 1):
        step(i)
    sync()
    step_seconds = (time.perf_counter() - t1) / MEASURED_STEPS

    method.eval()
    with torch.no_grad():
        x = model_input(data.x_test[:batch_size]).to(device)
        t2 = time.perf_counter()
        method.embed(x)
        sync()
        embed_seconds = time.perf_counter() - t2
    rows_embedded = n_train + len(data.x_test)
    eval_seconds = embed_seconds * math.ceil(rows_embedded / max(1, len(x)))
    evaluations = math.ceil(run.epochs / max(1, run.eval_every))
    steps = steps_per_epoch * run.epochs
    total = setup + steps * step_seconds + evaluations * eval_seconds
    return Estimate(round(total, 1), round(step_seconds, 4), steps, round(eval_seconds, 2), round(setup, 2))


def describe(seconds: float) -> str:
    """'about 40 s', 'about 3 minutes', 'about 2 h 10 min': what a person reads before Start."""
    if seconds < 60:
        return f"about {max(5, round(seconds / 5) * 5):.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        n = max(1, round(minutes))
        return f"about {n} minute{'s' if n != 1 else ''}"
    return f"about {int(minutes // 60)} h {round(minutes % 60):02d} min"


def main(argv: list[str] | None = None) -> int:
    from workbench.config import ConfigError, load_run_config

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m workbench.estimate CONFIG.json", file=sys.stderr)
        return 2
    try:
        run = load_run_config(Path(args[0]))
        result = estimate_run(run)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"cannot estimate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
