"""Cost of the analogy scores in the trainer's eval events against the rest of that evaluation (target <= 10 %).

Per epoch on data with factors the trainer adds workbench.analogies.event_scores (900 fixed
queries, 3CosAdd top-1) on the test embeddings it has already computed for kNN. Baseline,
measured in the same run: embedding both splits, kNN and the collapse metrics.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from workbench.analogies import analogy_sets, event_scores  # noqa: E402
from workbench.build import build_method  # noqa: E402
from workbench.config import new_run_config  # noqa: E402
from workbench.data import load_dataset  # noqa: E402
from workbench.evaluate import collapse_metrics, knn_top1  # noqa: E402
from workbench.trainer import embed_all  # noqa: E402


def median_seconds(fn, iters: int) -> float:
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))  # the median resists other load on the box


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dataset", default="shapes")
    p.add_argument("--method", default="simclr")
    p.add_argument("--iters", type=int, default=3)
    args = p.parse_args(argv)
    run = new_run_config(args.method, args.dataset, device="cpu")
    data = load_dataset(run.dataset)
    if not data.factors_test:
        print(f"{args.dataset} has no factors: the trainer adds no analogy scores")
        return 0
    device = torch.device("cpu")
    method = build_method(run, data, device)

    def evaluation():
        train = embed_all(method, data.x_train, device)
        test = embed_all(method, data.x_test, device)
        knn_top1(train, data.y_train, test, data.y_test, ks=(20, 200))
        collapse_metrics(test)
        return test

    test = evaluation().numpy()
    base = median_seconds(evaluation, args.iters)
    t = time.perf_counter()
    sets = analogy_sets(data.factors_test)
    draw = time.perf_counter() - t
    added = median_seconds(lambda: event_scores(test, data.factors_test, sets), args.iters)
    print(f"{args.dataset}: {len(data.x_test):,} test items, {test.shape[1]}-d, "
          f"{sum(len(s) for s in sets)} queries (drawn once in {draw:.2f} s)")
    print(f"evaluation without analogies {base:.2f} s, analogy scores {added:.3f} s "
          f"({100 * added / base:.1f} % of it; target <= 10 %)")
    return 0 if added <= 0.1 * base else 1


if __name__ == "__main__":
    sys.exit(main())
