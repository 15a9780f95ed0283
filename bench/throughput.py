"""Training throughput of the workbench trainer against a bare PyTorch loop doing the same work.

Both build the same method (same backbone, batch, device, augmentations) on the same data
(loaded as the trainer loads it, at the run's image_size) and time the same number of
optimiser steps; the trainer's time covers everything it does around a step
(events, commands, NaN guard, previews, scheduler), not the per-epoch evaluation.
Target: ratio >= 0.90 on CPU with the small CNN.

The process first applies the worker's bounded malloc thresholds (workbench.allocator), as
every training process does; --default-malloc leaves glibc's defaults (the old behaviour).
Page faults (ru_minflt) and CPU seconds (user + kernel, all threads) per timed step of each
side are printed beside the rates: the same steps the rates come from (not the trainer's
setup, warm-up epoch or final evaluation), and far less sensitive to other processes' load
than img/s, so read them first on a shared machine.

Measured 2026-12-03 on the shared 2-core VM (docs/BENCHMARKS.md, "The trainer against the bare
loop, per step"): `--device cpu --batch-size 256 --repeats 2`, 04:16 UTC, load 5.3 -> 5.9:
ratio 1.173, page faults per step bare 546, 0 / trainer 0, 0, CPU s per step bare 0.93, 1.04 /
trainer 1.06, 0.89; `--batch-size 128`, 04:25 UTC, load 6.6 -> 6.9: ratio 0.763 (the load
swung between the sides), faults per step 231, 0 / 66, 0, CPU s per step 0.88, 0.51 / 0.61,
0.72. Before the bare loop loaded its data as the trainer does it trained on 28 px MNIST
against the trainer's 32 px, and the ratio read 0.75-0.80 on a quiet machine.
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


def run_data(run):
    """The run's data as the trainer loads it (workbench.build.build): at the run's image_size,
    which resizes the embedded sets too (MNIST's 28 px to 32 by default). Loaded at its native
    size instead, the bare loop did 23 % less work per image than the trainer."""
    return load_dataset(run.dataset, root=run.data_root, image_size=run.image_size)


def usage() -> tuple[int, float]:
    """(minor page faults, user + kernel CPU seconds) of this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_minflt, r.ru_utime + r.ru_stime


def bare_loop(run, data, device, steps: int) -> tuple[float, int, float]:
    """img/s of the plainest loop (index, convert, step, backward, Adam), with the page
    faults and CPU seconds of its timed steps."""
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
            start, used = time.perf_counter(), usage()
        b = step % per_epoch
        idx = order[b * bs:(b + 1) * bs]
        out = method.training_step(Batch(model_input(x_all[idx]), y_all[idx], idx))
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    rate = steps * bs / (time.perf_counter() - start)
    end = usage()
    return rate, end[0] - used[0], end[1] - used[1]


class CountingTrainer(Trainer):
    """The trainer, adding up the page faults and CPU seconds of its epochs after the first."""

    faults, cpu = 0, 0.0

    def train_epoch(self) -> None:
        before = usage()
        super().train_epoch()
        if self.epoch > 0:  # the first epoch is the warm-up, as in the rates
            after = usage()
            self.faults += after[0] - before[0]
            self.cpu += after[1] - before[1]


def workbench_loop(run, epochs: int) -> tuple[float, int, float]:
    """img/s of the trainer's epochs (training only), from its own epoch events, with the
    page faults and CPU seconds of those epochs."""
    run.epochs, run.probe_size, run.linear_probe, run.eval_every = epochs, 0, False, 10_000
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = create_run_dir(run, path=Path(tmp) / "run")
        writer = EventWriter(run_dir)
        trainer = CountingTrainer(run_dir, writer)
        trainer.run()
        writer.close()
        epochs_ev = [e for e in read_events(run_dir) if e["type"] == "epoch"][1:]  # skip warm-up epoch
    images = sum(e["img_s"] * e["seconds"] for e in epochs_ev)
    return images / sum(e["seconds"] for e in epochs_ev), trainer.faults, trainer.cpu


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
    data = run_data(run)
    steps = (args.epochs - 1) * (len(data.x_train) // run.batch_size)
    bare, ours = [], []
    for _ in range(args.repeats):  # interleaved, so background load hits both alike
        bare.append(bare_loop(run, data, device, steps))
        ours.append(workbench_loop(new_run_config(args.method, args.dataset, cls.run_defaults,
                                                  batch_size=args.batch_size, device=args.device),
                                   args.epochs))
    b, o = max(r[0] for r in bare), max(r[0] for r in ours)
    print(f"method {args.method}, dataset {args.dataset}, batch {run.batch_size}, device {device}, "
          f"{steps} timed steps, best of {args.repeats}")
    print(f"{'bare PyTorch loop':<22}{b:>10.1f} img/s")
    print(f"{'workbench trainer':<22}{o:>10.1f} img/s")
    print(f"{'ratio':<22}{o / b:>10.3f}   (target >= 0.90)")
    print(f"malloc: {'glibc defaults' if args.default_malloc else 'worker thresholds'}")
    for name, runs in (("bare loop", bare), ("trainer", ours)):  # every repeat: they vary
        print(f"{name:<22}page faults per step {', '.join(f'{r[1] / steps:,.0f}' for r in runs)}; "
              f"CPU s per step {', '.join(f'{r[2] / steps:.3f}' for r in runs)}")


if __name__ == "__main__":
    main()
