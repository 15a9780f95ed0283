"""Evaluate a saved run: kNN and linear probe, next to floors measured in the same call."""
from __future__ import annotations

from pathlib import Path

import torch

from .build import build_method, load_from_run
from .evaluate import collapse_metrics, knn_top1, linear_probe
from .trainer import embed_all


def _scores(train: torch.Tensor, test: torch.Tensor, y_train, y_test, linear: bool, seed: int) -> dict:
    knn = knn_top1(train, y_train, test, y_test, ks=(20, 200))
    out = {"knn_top1": round(knn[20], 4), "knn_top1_k200": round(knn[200], 4)}
    if linear:
        out["linear_top1"] = round(linear_probe(train.numpy(), y_train.numpy(), test.numpy(),
                                                y_test.numpy(), seed=seed), 4)
    return out


def evaluate_run(run_dir: Path, checkpoint: str = "best", linear: bool = True,
                 floors: bool = True, device: str = "auto") -> dict:
    """kNN (k=20, 200) and linear-probe top-1 of a run's checkpoint, with honest floors:
    raw pixels, and a random-init encoder of the same architecture and seed."""
    loaded = load_from_run(run_dir, checkpoint, device)
    d, run = loaded.dataset, loaded.run
    train = embed_all(loaded.method, d.x_train, loaded.device)
    test = embed_all(loaded.method, d.x_test, loaded.device)
    result = {
        "run": str(run_dir), "method": run.method, "dataset": run.dataset,
        "checkpoint": str(loaded.checkpoint), "step": loaded.step, "epoch": loaded.epoch,
        "model": _scores(train, test, d.y_train, d.y_test, linear, run.seed),
        "collapse": {k: round(v, 4) for k, v in collapse_metrics(test).items()},
    }
    if floors:
        raw_train = d.x_train.flatten(1).float() / 255
        raw_test = d.x_test.flatten(1).float() / 255
        result["floor_raw_pixels"] = _scores(raw_train, raw_test, d.y_train, d.y_test, linear, run.seed)
        fresh = build_method(run, d, loaded.device)
        result["floor_random_init"] = _scores(embed_all(fresh, d.x_train, loaded.device),
                                              embed_all(fresh, d.x_test, loaded.device),
                                              d.y_train, d.y_test, linear, run.seed)
        result["beats_random_init"] = result["model"]["knn_top1"] > result["floor_random_init"]["knn_top1"]
    return result
