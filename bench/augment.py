"""Throughput of batched two_views against a per-image PIL torchvision pipeline (target >= 3x)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from workbench.augment import ViewConfig, two_views  # noqa: E402


def pil_pipeline():
    """The textbook SimCLR CIFAR transform, applied image by image to PIL images."""
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.RandomResizedCrop(32, scale=(0.2, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            v2.RandomGrayscale(0.2),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )


def time_it(fn, iters: int, warmup: int, sync=lambda: None) -> float:
    """Median seconds per call after `warmup` calls (median resists other load on the box)."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args(argv)

    from PIL import Image

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.batch, 32, 32, 3), dtype=np.uint8)
    pil_images = [Image.fromarray(a) for a in images]
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255).contiguous()
    cfg = ViewConfig()
    n_views = 2 * args.batch

    rows: list[tuple[str, float]] = []
    tf = pil_pipeline()
    s = time_it(lambda: [(tf(im), tf(im)) for im in pil_images], args.iters, args.warmup)
    rows.append(("PIL torchvision.v2, per image", n_views / s))
    pil_rate = rows[0][1]

    # One thread is the like-for-like figure (the PIL pipeline runs on one core); all
    # threads is what a training run gets, unless other processes are busy on the cores.
    threads = torch.get_num_threads()
    for n in sorted({1, threads}):
        torch.set_num_threads(n)
        s = time_it(lambda: two_views(x, cfg), args.iters, args.warmup)
        rows.append((f"two_views batched, cpu, {n} thread{'s' * (n > 1)}", n_views / s))
    torch.set_num_threads(threads)
    if torch.cuda.is_available():
        xc = x.cuda()
        s = time_it(lambda: two_views(xc, cfg), args.iters * 5, args.warmup, torch.cuda.synchronize)
        rows.append((f"two_views batched, cuda ({torch.cuda.get_device_name()})", n_views / s))

    print(f"SimCLR two-view augmentation, batch {args.batch} RGB 32x32 (median of {args.iters})")
    print(f"{'pipeline':<52} {'images/s':>10} {'views/s':>10} {'vs PIL':>7}")
    for name, rate in rows:
        print(f"{name:<52} {rate / 2:>10,.0f} {rate:>10,.0f} {rate / pil_rate:>6.1f}x")
    ratio = rows[1][1] / pil_rate
    verdict = "PASS" if ratio >= 3 else "BELOW TARGET"
    print(f"ratio ours (cpu, 1 thread) / PIL = {ratio:.1f}x (target >= 3x): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
