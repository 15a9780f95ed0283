"""Train shipped recipes through the CLI and score them: kNN / linear probe on the test split, seconds, load average.

python bench/recipes.py mnist5k:simclr:quick shapes:simclr:best [--runs-root DIR] [--threads N]

Each row is one `ssl-workbench train --recipe` run followed by `workbench.assess.evaluate_run`
on its last checkpoint (raw-pixel floor included); wall and CPU seconds cover training only.
On data with factors it adds the shape/colour probes and analogy top-1.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(spec: str, runs_root: Path, threads: int, floors: bool = True) -> dict:
    from workbench.assess import evaluate_run
    from workbench.cli import main
    dataset, method, recipe = spec.split(":")
    run_dir = runs_root / f"{dataset}-{method}-{recipe}-{int(time.time())}"
    load_before = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), _cpu_seconds()
    extra = ["--set", f"threads={threads}"] if threads else []
    code = main(["train", "--method", method, "--dataset", dataset, "--recipe", recipe, "--device", "cpu",
                 "--run-dir", str(run_dir), "--quiet", "--set", "linear_probe=false", *extra])
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    row = {"recipe": spec, "exit": code, "train_wall_s": round(wall, 1), "train_cpu_s": round(cpu, 1),
           "load": [round(load_before, 1), round(os.getloadavg()[0], 1)], "run": str(run_dir)}
    if code == 0:
        result = evaluate_run(run_dir, "last", linear=True, floors=floors, device="cpu")
        model = result.get("model", {})
        row.update(knn=model.get("knn_top1"), linear=model.get("linear_top1"),
                   label_efficiency=model.get("label_efficiency"), rankme=model.get("rankme"),
                   raw_knn=result.get("floor_raw_pixels", {}).get("knn_top1"),
                   random_init_knn=result.get("floor_random_init", {}).get("knn_top1"),
                   beats_floor=result.get("verdict", {}).get("beats_floor"),  # the judge eval and bench/methods.py use
                   decided_by=result.get("verdict", {}).get("decided_by"), factors=result.get("factors"))
        analogies = result.get("analogies", {}).get("model", {}).get("3cosadd", {})
        if analogies:
            row["analogy_top1"] = analogies.get("overall", {}).get("top1")
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("specs", nargs="+", metavar="DATASET:METHOD:RECIPE")
    p.add_argument("--runs-root", type=Path, default=Path("runs/bench-recipes"))
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--no-floors", action="store_true",
                   help="skip the raw-pixel and random-init floors (they do not change between runs of "
                        "one dataset, method, method settings and backbone; `ssl-workbench floors "
                        "RUN_DIR` prints them)")
    args = p.parse_args()
    for spec in args.specs:
        row = measure(spec, args.runs_root, args.threads, floors=not args.no_floors)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
