"""CIFAR-10 protocol: SimCLR, MoCo and BYOL on ResNet-18, kNN (k = 200) on the test split after every epoch.

The setting of lightly's published CIFAR-10 benchmark (ResNet-18, batch 512, weighted kNN with
k = 200 and T = 0.1 on the 10,000 test images after every epoch; SimCLR 0.848 and BYOL 0.868
after 200 epochs), run through the workbench trainer, so a run here can be compared with those
numbers and with other libraries. Optimiser and augmentations are each method's workbench
defaults (what `ssl-workbench train` gives it), not lightly's exact recipe. Prints seconds per
epoch and kNN per epoch for each method, and a summary.

CIFAR-10 is read with torchvision's CIFAR10 (download=False) from --data-root. Without it the
script says how to get it; --synthetic runs on generated 32x32 colour images (ten classes of
blobs) so the script can be checked anywhere.

    python bench/cifar10.py --data-root ~/data                     # the protocol: 200 epochs
    python bench/cifar10.py --data-root ~/data --epochs 1 --limit 2000 --batch-size 256
    python bench/cifar10.py --synthetic --epochs 2 --limit 512 --backbone small_cnn
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

import torch  # noqa: E402

from workbench import trainer as trainer_module  # noqa: E402
from workbench.build import Built, build_method, pick_device  # noqa: E402
from workbench.config import ConfigError, new_run_config, validate  # noqa: E402
from workbench.data import DataError, load_dataset  # noqa: E402
from workbench.data.base import Dataset, make_dataset  # noqa: E402
from workbench.events import EventWriter, read_events  # noqa: E402
from workbench.registry import get_method  # noqa: E402
from workbench.runs import create_run_dir  # noqa: E402

METHODS = ("simclr", "moco", "byol")
PUBLISHED = {"simclr": 0.848, "byol": 0.868}  # lightly, ResNet-18, batch 512, 200 epochs
HOW_TO_GET = ("CIFAR-10 is not in {root}. Put torchvision's copy there (the folder "
              "cifar-10-batches-py from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz, "
              "unpacked), or fetch it once with `ssl-workbench train --dataset cifar10 --download "
              "--epochs 1`; or run with --synthetic to check the script on generated images.")


def synthetic_cifar(n_train: int, n_test: int, seed: int = 0) -> Dataset:
    """Ten classes of 32x32 colour images: a class colour and blob position, random texture,
    so kNN on a trained encoder scores well above chance (0.1) but not trivially."""
    g = torch.Generator().manual_seed(seed)
    palette = torch.rand(10, 3, generator=g) * 0.8 + 0.1
    centres = torch.rand(10, 2, generator=g) * 16 + 8

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % 10
        yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
        jitter = torch.randn(n, 2, generator=g) * 3
        c = centres[y] + jitter
        d2 = (yy - c[:, 0, None, None]) ** 2 + (xx - c[:, 1, None, None]) ** 2
        blob = torch.exp(-d2 / 40.0).unsqueeze(1)
        noise = torch.rand(n, 3, 32, 32, generator=g) * 0.3
        x = blob * palette[y][:, :, None, None] + (1 - blob) * noise
        return (x.clamp(0, 1) * 255).round().to(torch.uint8), y

    x_train, y_train = make(n_train)
    x_test, y_test = make(n_test)
    return make_dataset("synthetic32", x_train, y_train, x_test, y_test, [f"class {i}" for i in range(10)])


def subset(data: Dataset, limit: int | None) -> Dataset:
    """The first `limit` training and `limit // 5` test images (at least 10), for short checks."""
    if not limit:
        return data
    n_test = max(10, limit // 5)
    return make_dataset(data.spec.name, data.x_train[:limit], data.y_train[:limit],
                        data.x_test[:n_test], data.y_test[:n_test], list(data.spec.class_names))


@contextlib.contextmanager
def trained_on(data: Dataset):
    """Let the trainer build its method on `data` instead of loading the dataset by name
    (a subset or generated images); everything else in the run is the trainer's own."""
    original = trainer_module.build, trainer_module.prepare_data

    def build(run):
        validate(run)
        device = pick_device(run.device)
        return Built(build_method(run, data, device), data, device)

    # `data` is in memory already: no on-disk cache to prepare for the dataset's name
    trainer_module.build, trainer_module.prepare_data = build, lambda *args, **kwargs: None
    try:
        yield
    finally:
        trainer_module.build, trainer_module.prepare_data = original


def train(method: str, data: Dataset, args) -> list[dict]:
    """One run through the trainer; returns its events."""
    cls = get_method(method)
    run = new_run_config(method, "cifar10", cls.run_defaults, batch_size=args.batch_size,
                         epochs=args.epochs, backbone=args.backbone, device=args.device,
                         seed=args.seed, eval_every=1, probe_size=0, linear_probe=False,
                         preview_interval=3600.0, threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp, trained_on(data):
        run_dir = create_run_dir(run, path=Path(tmp) / method)
        writer = EventWriter(run_dir)
        try:
            trainer_module.Trainer(run_dir, writer).run()
        finally:
            writer.close()
        return list(read_events(run_dir))


def report(method: str, events: list[dict], out=print) -> dict:
    """Print one line per epoch (seconds, img/s, loss, kNN k=200); return the summary."""
    epochs = [e for e in events if e["type"] == "epoch"]
    evals = [e for e in events if e["type"] == "eval" and "knn_top1_k200" in e]
    out(f"\n{method}")
    out(f"{'epoch':>6}{'seconds':>10}{'img/s':>10}{'loss':>10}{'kNN k=200':>11}")
    for i, ep in enumerate(epochs):
        knn = evals[i]["knn_top1_k200"] if i < len(evals) else float("nan")
        out(f"{i + 1:>6}{ep['seconds']:>10.1f}{ep['img_s']:>10.1f}{ep['loss']:>10.4f}{knn:>11.4f}")
    seconds = [e["seconds"] for e in epochs]
    return {"method": method, "epochs": len(epochs),
            "s_per_epoch": sum(seconds) / max(1, len(seconds)),
            "knn_k200": evals[-1]["knn_top1_k200"] if evals else float("nan")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--data-root", help="folder holding torchvision's CIFAR-10 (cifar-10-batches-py)")
    p.add_argument("--synthetic", action="store_true", help="generated 32x32 images instead of CIFAR-10")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated (default simclr,moco,byol)")
    p.add_argument("--epochs", type=int, default=200, help="epochs per method (protocol: 200)")
    p.add_argument("--batch-size", type=int, default=512, help="protocol: 512")
    p.add_argument("--backbone", default="resnet18", help="protocol: resnet18")
    p.add_argument("--limit", type=int, help="train on the first N images (N/5 test) for short checks")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch's default)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.synthetic:
        n = args.limit or 50_000
        data = synthetic_cifar(n, max(10, n // 5), seed=args.seed)
        source = f"synthetic 32x32 images ({n} train)"
    else:
        from workbench.data.torchvision_sets import default_root

        root = args.data_root or str(default_root())
        try:
            data = subset(load_dataset("cifar10", root=root, download=False), args.limit)
        except DataError:
            print(HOW_TO_GET.format(root=root), file=sys.stderr)
            return 2
        source = f"CIFAR-10 from {root}" + (f" (first {args.limit} train images)" if args.limit else "")
    device = pick_device(args.device)
    print(f"{source}; {args.backbone}, batch {args.batch_size}, {args.epochs} epoch(s), device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    summaries = []
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        start = time.perf_counter()
        try:
            events = train(method, data, args)
        except (ConfigError, KeyError, ValueError) as exc:
            print(f"{method}: {exc}", file=sys.stderr)
            return 2
        except trainer_module.TrainingFailed as exc:
            print(f"{method}: failed: {exc}", file=sys.stderr)
            return 1
        failed = [e for e in events if e["type"] == "failed"]
        if failed:
            print(f"{method}: failed: {failed[-1]['message']}", file=sys.stderr)
            return 1
        summary = report(method, events)
        summary["wall_s"] = time.perf_counter() - start
        summaries.append(summary)
    print(f"\n{'method':<8}{'epochs':>7}{'s/epoch':>10}{'kNN k=200':>11}{'published (200 ep)':>20}")
    for s in summaries:
        published = PUBLISHED.get(s["method"])
        print(f"{s['method']:<8}{s['epochs']:>7}{s['s_per_epoch']:>10.1f}{s['knn_k200']:>11.4f}"
              f"{published if published else '-':>20}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
