"""GPU check in under five minutes: trainer against a bare PyTorch loop, stream against in-memory data, peak memory.

1. Throughput: the workbench trainer (events, NaN checks, previews, scheduler; its per-epoch
   evaluation excluded) against the plainest loop doing the same work: same method, backbone,
   batch, device and mixed precision (bf16 autocast on CUDA when --amp), channels-last on CUDA
   as the trainer does.
2. Data path: the trainer with run setting data_path=stream (batches read from the on-disk
   cache through the prefetcher) against data_path=memory (the split on the device). When this
   tree has no data_path setting the line says so and the comparison is skipped.
3. Peak GPU memory of the trainer run (torch.cuda.max_memory_allocated, from its step events).

On a machine without CUDA it runs with tiny settings (small_cnn, digits, batch 64) and says so;
its figures then only show that the script works.

    python bench/gpu.py                       # CUDA: resnet18 on shapes, batch 256, AMP
    python bench/gpu.py --backbone resnet50 --batch-size 128 --image-size 96
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

import torch  # noqa: E402

from workbench.api import Batch  # noqa: E402
from workbench.build import build_method, pick_device  # noqa: E402
from workbench.config import RunConfig, new_run_config  # noqa: E402
from workbench.data import load_dataset  # noqa: E402
from workbench.data.base import model_input  # noqa: E402
from workbench.events import EventWriter, read_events  # noqa: E402
from workbench.registry import get_method  # noqa: E402
from workbench.runs import create_run_dir  # noqa: E402
from workbench.trainer import Trainer, epoch_order  # noqa: E402

CUDA_DEFAULTS = {"dataset": "shapes", "backbone": "resnet18", "batch_size": 256, "epochs": 3}
CPU_DEFAULTS = {"dataset": "digits", "backbone": "small_cnn", "batch_size": 64, "epochs": 2}


def has_data_path_setting() -> bool:
    return any(f.name == "data_path" for f in dataclasses.fields(RunConfig))


def run_config(args, **extra) -> RunConfig:
    cls = get_method(args.method)
    settings = dict(batch_size=args.batch_size, backbone=args.backbone, device=args.device,
                    amp=args.amp, epochs=args.epochs, probe_size=0, linear_probe=False,
                    eval_every=10_000, preview_interval=3600.0, threads=args.threads, **extra)
    if args.image_size:
        settings["image_size"] = args.image_size
    return new_run_config(args.method, args.dataset, cls.run_defaults, **settings)


def bare_loop(run: RunConfig, steps: int) -> float:
    """img/s of the plainest loop on the same method, batch and precision as the trainer."""
    device = pick_device(run.device)
    data = load_dataset(run.dataset, image_size=run.image_size)
    method = build_method(run, data, device)
    cuda = device.type == "cuda"
    if cuda:
        method.to(memory_format=torch.channels_last)
    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if cuda and run.amp else nullcontext())
    opt = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=run.lr)
    x_all, y_all = data.x_train.to(device), data.y_train.to(device)
    n, bs = len(x_all), min(run.batch_size, len(x_all))
    per_epoch = max(1, n // bs)
    order = epoch_order(run.seed, 0, n).to(device)
    method.train()
    start = 0.0
    for step in range(steps + 2):  # two warm-up steps (cuDNN autotuning, allocator)
        if step == 2:
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
        b = step % per_epoch
        idx = order[b * bs:(b + 1) * bs]
        x = model_input(x_all[idx])
        if cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with amp:
            loss = method.training_step(Batch(x, y_all[idx], idx)).loss.float()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if cuda:
        torch.cuda.synchronize()
    return steps * bs / (time.perf_counter() - start)


def trainer_run(run: RunConfig) -> dict:
    """img/s of the trainer's epochs after the first (warm-up), its started event and peak
    GPU memory (MB, None off CUDA)."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = create_run_dir(run, path=Path(tmp) / "run")
        writer = EventWriter(run_dir)
        try:
            Trainer(run_dir, writer).run()
        finally:
            writer.close()
        events = list(read_events(run_dir))
    epochs = [e for e in events if e["type"] == "epoch"]
    timed = epochs[1:] or epochs
    images = sum(e["img_s"] * e["seconds"] for e in timed)
    peaks = [e["gpu_mem_mb"] for e in events if e["type"] == "step" and "gpu_mem_mb" in e]
    started = next(e for e in events if e["type"] == "started")
    return {"img_s": images / max(1e-9, sum(e["seconds"] for e in timed)),
            "peak_mb": max(peaks) if peaks else None, "started": started,
            "steps_per_epoch": started["steps_per_epoch"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--method", default="simclr")
    p.add_argument("--dataset", help="default: shapes on CUDA, digits on CPU")
    p.add_argument("--backbone", help="default: resnet18 on CUDA, small_cnn on CPU")
    p.add_argument("--batch-size", type=int, help="default: 256 on CUDA, 64 on CPU")
    p.add_argument("--epochs", type=int, help="trainer epochs, the first is warm-up (default 3 on CUDA, 2 on CPU)")
    p.add_argument("--image-size", type=int, help="image side (default: the run's default)")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="full precision on CUDA")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch's default)")
    args = p.parse_args(argv)
    device = pick_device(args.device)
    defaults = CUDA_DEFAULTS if device.type == "cuda" else CPU_DEFAULTS
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.device = device.type
    if device.type == "cuda":
        print(f"CUDA: {torch.cuda.get_device_name(device)}")
    else:
        print(f"no CUDA device: ran on {device.type} with tiny settings; these figures only show "
              f"that the script works")
    start = time.perf_counter()
    ours = trainer_run(run_config(args))
    steps = (args.epochs - 1) * ours["steps_per_epoch"] or ours["steps_per_epoch"]
    bare = bare_loop(run_config(args), steps)
    print(f"method {args.method}, {args.backbone}, dataset {args.dataset}, batch {args.batch_size}, "
          f"amp {'bf16' if args.amp and device.type == 'cuda' else 'off'}, {steps} timed steps")
    print(f"{'bare PyTorch loop':<28}{bare:>10.1f} img/s")
    print(f"{'workbench trainer':<28}{ours['img_s']:>10.1f} img/s")
    print(f"{'ratio trainer / bare':<28}{ours['img_s'] / bare:>10.3f}")
    if has_data_path_setting():
        memory = trainer_run(run_config(args, data_path="memory"))
        stream = trainer_run(run_config(args, data_path="stream"))
        print(f"{'in-memory path':<28}{memory['img_s']:>10.1f} img/s")
        print(f"{'cached-stream path':<28}{stream['img_s']:>10.1f} img/s")
        print(f"{'ratio stream / memory':<28}{stream['img_s'] / memory['img_s']:>10.3f}")
    else:
        print("stream vs memory: skipped (this tree has no data_path run setting yet)")
    peak = ours["peak_mb"]
    print(f"{'peak GPU memory':<28}" + (f"{peak:>10.1f} MB" if peak is not None else f"{'n/a (no CUDA)':>13}"))
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
