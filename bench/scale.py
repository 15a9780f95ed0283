"""Data past memory: a large folder of JPEGs through the on-disk cache and the streaming path.

1. Generates a folder of procedural JPEGs (10 class sub-folders; in parallel; reused when present).
2. Builds the image cache for it (prints seconds; reused when the folder is unchanged).
3. Trains SimCLR on it with data_path=stream for --steps steps in a child process and reports
   its training images/s and the child's peak RSS (target: under 2.5 GB for 100,000 images),
   beside its RSS at rest just before the first step: the difference is the step's
   activations, set by the batch, the image size and the backbone, never by the folder's size.
4. On a subset that fits in memory, trains --compare-steps steps on both paths and prints the
   ratio stream / memory of training images/s (target: >= 0.8 on a 2-core CPU).

    python bench/scale.py                       # 100,000 images at 112 px, image_size 96
    python bench/scale.py --batch-size 128      # twice the activations (about 2.5 GB at peak)
    python bench/scale.py --images 300 --image-size 32 --steps 5 --subset 200   # a quick check
"""
from __future__ import annotations

import argparse
import json
import math
import os
import queue
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

CLASSES = ("circle", "square", "triangle", "stripes", "checker", "ring", "cross", "dots", "diamond", "bars")
DONE_MARK = ".complete"


def draw(args: tuple[int, int, int]):
    """One procedural image (side × side RGB): a class-specific pattern on a noisy gradient."""
    from PIL import Image, ImageDraw

    index, label, side = args
    rng = np.random.default_rng(index)
    base = rng.integers(0, 120, 3)
    ramp = np.linspace(0, 1, side)[:, None, None] * rng.integers(0, 100, 3)
    pixels = np.clip(base + ramp + rng.normal(0, 12, (side, side, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(pixels)
    d = ImageDraw.Draw(img)
    colour = tuple(int(c) for c in rng.integers(120, 256, 3))
    r = int(side * rng.uniform(0.18, 0.35))
    cx, cy = (int(v) for v in rng.integers(r, side - r, 2))
    kind = CLASSES[label]
    if kind == "circle":
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif kind == "square":
        d.rectangle((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif kind == "triangle":
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    elif kind == "stripes":
        for x in range(0, side, max(2, r // 3)):
            d.line((x, 0, x, side), fill=colour, width=max(1, r // 6))
    elif kind == "checker":
        step = max(2, r // 2)
        for x in range(0, side, step):
            for y in range((x // step) % 2 * step, side, 2 * step):
                d.rectangle((x, y, x + step - 1, y + step - 1), fill=colour)
    elif kind == "ring":
        d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=max(2, r // 4))
    elif kind == "cross":
        d.line((cx - r, cy, cx + r, cy), fill=colour, width=max(2, r // 3))
        d.line((cx, cy - r, cx, cy + r), fill=colour, width=max(2, r // 3))
    elif kind == "dots":
        for _ in range(8):
            x, y = (int(v) for v in rng.integers(0, side, 2))
            d.ellipse((x - r // 4, y - r // 4, x + r // 4, y + r // 4), fill=colour)
    elif kind == "diamond":
        d.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=colour)
    else:
        for y in range(0, side, max(2, r // 3)):
            d.line((0, y, side, y), fill=colour, width=max(1, r // 6))
    return img


def _write(args: tuple[Path, int, int, int]) -> None:
    folder, index, label, side = args
    draw((index, label, side)).save(folder / CLASSES[label] / f"{index:07d}.jpg", quality=90)


def generate(folder: Path, n: int, side: int, workers: int) -> float:
    """Write n JPEGs (reused when a complete folder of the same n and side is there); seconds."""
    mark = folder / DONE_MARK
    if mark.exists() and json.loads(mark.read_text()) == {"images": n, "side": side}:
        return 0.0
    shutil.rmtree(folder, ignore_errors=True)
    for name in CLASSES:
        (folder / name).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    jobs = [(folder, i, i % len(CLASSES), side) for i in range(n)]
    with Pool(workers) as pool:
        for _ in tqdm(pool.imap_unordered(_write, jobs, chunksize=256), total=n, desc="generating", unit="img"):
            pass
    mark.write_text(json.dumps({"images": n, "side": side}))
    return time.perf_counter() - t0


def subset_folder(folder: Path, n: int) -> Path:
    """A folder of symlinks to the first n images (spread over the classes)."""
    out = folder.with_name(f"{folder.name}-subset{n}")
    if (out / DONE_MARK).exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    per_class = math.ceil(n / len(CLASSES))
    for name in CLASSES:
        (out / name).mkdir(parents=True)
        for src in sorted((folder / name).iterdir())[:per_class]:
            (out / name / src.name).symlink_to(src)
    (out / DONE_MARK).write_text("{}")
    return out


def tqdm(iterable=None, **kw):
    from tqdm import tqdm as bar

    return bar(iterable, file=sys.stderr, mininterval=1.0, **kw)


def build_cache(folder: Path, image_size: int) -> tuple[float, int]:
    """(seconds, images) to load the folder through the cache (built when missing)."""
    from workbench.data import load_dataset

    bar = tqdm(total=1000, desc="caching", unit="‰")

    def progress(fraction: float) -> None:
        bar.update(int(fraction * 1000) - bar.n)

    t0 = time.perf_counter()
    ds = load_dataset("folder", root=str(folder), image_size=image_size, progress=progress)
    bar.close()
    return time.perf_counter() - t0, ds.spec.train_size + ds.spec.test_size


def rss_mb() -> float:
    """This process's resident memory now (MB), from /proc (0 where there is none)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
    except (OSError, StopIteration):
        return 0.0


def child(args) -> None:
    """Train in this process until --steps optimiser steps; print one JSON line of figures."""
    from workbench.allocator import tune_allocator
    from workbench.config import new_run_config
    from workbench.events import EventWriter, read_events
    from workbench.runs import create_run_dir
    from workbench.trainer import Trainer

    run = new_run_config("simclr", "folder", data_root=str(args.folder), image_size=args.image_size,
                         batch_size=args.batch_size, epochs=1000, eval_every=10000, device=args.device,
                         probe_size=64, preview_interval=3600.0, linear_probe=False,
                         data_path=args.data_path, threads=args.threads,
                         **({"backbone": args.backbone} if args.backbone else {}))
    tune_allocator()  # as the worker process does before it trains
    run_dir = create_run_dir(run, path=Path(tempfile.mkdtemp(prefix="scale-run-")))
    marks: list[float] = []
    at_rest: list[float] = []
    warm = min(3, max(0, args.steps - 2))

    class Timed(Trainer):
        def optimise(self, batch):
            if not at_rest:
                at_rest.append(rss_mb())
            result = super().optimise(batch)
            marks.append(time.perf_counter())
            if len(marks) >= args.steps:
                self.commands.put({"type": "stop"})
            return result

    writer = EventWriter(run_dir)
    try:
        trainer = Timed(run_dir, writer, queue.Queue())
        trainer.run()
    finally:
        writer.close()
    started = next(e for e in read_events(run_dir) if e["type"] == "started")
    steps = len(marks) - 1 - warm
    img_s = steps * trainer.batch_size / (marks[-1] - marks[warm]) if steps > 0 else float("nan")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    shutil.rmtree(run_dir, ignore_errors=True)
    print(json.dumps({"data_path": started["data_path"], "img_s": img_s, "steps": len(marks),
                      "train_size": trainer.n_train, "peak_rss_mb": peak_mb,
                      "rest_rss_mb": at_rest[0] if at_rest else 0.0, "backbone": trainer.cfg.backbone}))


def train(folder: Path, data_path: str, args, steps: int) -> dict:
    """Run child() in a fresh process for `steps` steps; its figures and its peak RSS."""
    cmd = [sys.executable, __file__, "--child", "--folder", str(folder), "--data-path", data_path,
           "--image-size", str(args.image_size), "--steps", str(steps), "--batch-size",
           str(args.batch_size), "--device", args.device, "--threads", str(args.threads)]
    if args.backbone:
        cmd += ["--backbone", args.backbone]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"training child failed ({data_path}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=100_000, help="images to generate (default 100,000)")
    p.add_argument("--side", type=int, default=112, help="side of the generated JPEGs in px (default 112)")
    p.add_argument("--image-size", type=int, default=96, help="training image_size (default 96)")
    p.add_argument("--steps", type=int, default=200, help="optimiser steps on the whole folder (default 200)")
    p.add_argument("--compare-steps", type=int, default=60,
                   help="optimiser steps for each path on the subset (default 60)")
    p.add_argument("--batch-size", type=int, default=64,
                   help="images per batch (default 64; SimCLR forwards two views of each)")
    p.add_argument("--backbone", default=None, help="backbone (default: the run's own default)")
    p.add_argument("--subset", type=int, default=5_000, help="images in the in-memory comparison (default 5,000)")
    p.add_argument("--folder", type=Path, default=None,
                   help="where the images go (default ~/.cache/ssl-workbench/bench-scale-<images>)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads in training (0 = default)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes generating images")
    p.add_argument("--data-path", default="stream", help=argparse.SUPPRESS)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args)
        return 0
    folder = args.folder or Path(f"~/.cache/ssl-workbench/bench-scale-{args.images}").expanduser()
    print(f"load average {os.getloadavg()[0]:.2f} / {os.getloadavg()[1]:.2f} on {os.cpu_count()} cores")
    seconds = generate(folder, args.images, args.side, args.workers)
    print(f"images: {args.images:,} JPEGs at {args.side} px in {folder} "
          f"({'generated in %.1f s' % seconds if seconds else 'reused'})")
    seconds, count = build_cache(folder, args.image_size)
    print(f"cache: {count:,} images at image_size {args.image_size} ready in {seconds:.1f} s")

    big = train(folder, "stream", args, args.steps)
    print(f"stream, all {big['train_size']:,} train images, {big['backbone']}, batch {args.batch_size}: "
          f"{big['img_s']:.1f} img/s over {big['steps']} steps, peak RSS {big['peak_rss_mb']:.0f} MB "
          f"({big['rest_rss_mb']:.0f} MB at rest before the first step; the rest is the step's activations)")

    small = subset_folder(folder, min(args.subset, args.images))
    build_cache(small, args.image_size)
    memory = train(small, "memory", args, args.compare_steps)
    streamed = train(small, "stream", args, args.compare_steps)
    ratio = streamed["img_s"] / memory["img_s"]
    print(f"subset of {memory['train_size']:,} train images: memory {memory['img_s']:.1f} img/s, "
          f"stream {streamed['img_s']:.1f} img/s, ratio {ratio:.2f}; peak RSS memory "
          f"{memory['peak_rss_mb']:.0f} MB, stream {streamed['peak_rss_mb']:.0f} MB (the model's "
          f"activations at this batch and size; the folder's size adds nothing on the stream path)")
    print(f"load average {os.getloadavg()[0]:.2f} / {os.getloadavg()[1]:.2f}")
    print(json.dumps({"images": count, "stream_img_s": big["img_s"], "peak_rss_mb": big["peak_rss_mb"],
                      "rest_rss_mb": big["rest_rss_mb"], "batch_size": args.batch_size, "steps": big["steps"],
                      "memory_img_s": memory["img_s"], "subset_stream_img_s": streamed["img_s"],
                      "ratio": ratio, "cache_seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
