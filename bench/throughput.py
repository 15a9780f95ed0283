"""Training throughput of the workbench trainer against a bare PyTorch loop doing the same work.

Both build the same method (same backbone, batch, device, augmentations) and time the same
number of optimiser steps; the trainer's time covers everything it does around a step
(events, commands, NaN guard, previews, scheduler), not the per-epoch evaluation.
Target: ratio >= 0.90 on CPU with the small CNN.

The process first applies the worker's bounded malloc thresholds (workbench.allocator), as
every training process does; --default-malloc leaves glibc's defaults (the old behaviour).
Page faults (ru_minflt) and kernel CPU seconds of each side (the trainer's include its
setup and warm-up epoch) are printed beside the rates.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from workbench.allocator import ENV_SWITCH, tune_allocator

if "--default-malloc" in sys.argv:
    os.environ[ENV_SWITCH] = "0"
tune_allocator()  # before torch allocates anything, as in the worker

import torch  # noqa: E402

from workbench.api import Batch
from workbench.build import build_method, pick_device
from workbench.config import new_run_config
from workbench.data import load_dataset
from workbench.events import EventWriter, read_events
from workbench.registry import get_method
from workbench.runs import create_run_dir
from workbench.data.base import model_input
from workbench.trainer import Trainer, epoch_order


def bare_loop(run, data, device, steps: int) -> float:
    """img/s of the plainest loop: index, convert, step, backward, Adam."""
    method = build_method(run, data, device)
    opt = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=run.lr)
    x_all, y_all = data.x_train.to(device), data.y_train.to(device)
    n, bs = len(x_all), run.batch_size
    per_epoch = n // bs
    order = epoch_order(run.seed, 0, n).to(device)
    method.train()
    start = None
    for step in range(steps + 2):  # two warm-up steps
        if step == 2:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        b = step % per_epoch
        idx = order[b * bs:(b + 1) * bs]
        out = method.training_step(Batch(model_input(x_all[idx]), y_all[idx], idx))
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * bs / (time.perf_counter() - start)


def workbench_loop(run, epochs: int) -> float:
    """img/s of the trainer's epochs (training only), from its own epoch events."""
    run.epochs, run.probe_size, run.linear_probe, run.eval_every = epochs, 0, False, 10_000
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = create_run_dir(run, path=Path(tmp) / "run")
        writer = EventWriter(run_dir)
        Trainer(run_dir, writer).run()
        writer.close()
        epochs_ev = [e for e in read_events(run_dir) if e["type"] == "epoch"][1:]  # skip warm-up epoch
    images = sum(e["img_s"] * e["seconds"] for e in epochs_ev)
    return images / sum(e["seconds"] for e in epochs_ev)


def measured(fn, *args):
    """fn(*args) with the page faults and kernel CPU seconds it cost."""
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    rate = fn(*args)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return rate, r1.ru_minflt - r0.ru_minflt, r1.ru_stime - r0.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", default="simclr")
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--epochs", type=int, default=3, help="trainer epochs (first one is warm-up)")
    p.add_argument("--device", default="auto")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--default-malloc", action="store_true",
                   help="keep glibc's malloc defaults instead of the worker's bounded thresholds")
    args = p.parse_args()
    cls = get_method(args.method)
    run = new_run_config(args.method, args.dataset, cls.run_defaults, batch_size=args.batch_size,
                         device=args.device)
    device = pick_device(run.device)
    data = load_dataset(run.dataset)
    steps = (args.epochs - 1) * (len(data.x_train) // run.batch_size)
    bare, ours = [], []
    for _ in range(args.repeats):  # interleaved, so background load hits both alike
        bare.append(measured(bare_loop, run, data, device, steps))
        ours.append(measured(workbench_loop, new_run_config(args.method, args.dataset, cls.run_defaults,
                                                            batch_size=args.batch_size, device=args.device),
                             args.epochs))
    b, o = max(r[0] for r in bare), max(r[0] for r in ours)
    print(f"method {args.method}, dataset {args.dataset}, batch {run.batch_size}, device {device}, "
          f"{steps} timed steps, best of {args.repeats}")
    print(f"{'bare PyTorch loop':<22}{b:>10.1f} img/s")
    print(f"{'workbench trainer':<22}{o:>10.1f} img/s")
    print(f"{'ratio':<22}{o / b:>10.3f}   (target >= 0.90)")
    print(f"malloc: {'glibc defaults' if args.default_malloc else 'worker thresholds'}; "
          f"page faults bare {min(r[1] for r in bare):,} / trainer {min(r[1] for r in ours):,}; "
          f"kernel CPU s bare {min(r[2] for r in bare):.2f} / trainer {min(r[2] for r in ours):.2f}")


if __name__ == "__main__":
    main()
