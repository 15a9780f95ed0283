"""The MaskGIT prior's IS / FID on signals, two-stage: a stage-two run on a trained vq_vae run's frozen tokenizer.

    python bench/vq_prior.py RUN_DIR [--epochs 10] [--layers 2] [--out DIR] [--preview out.png]

Trains the run a user starts with `ssl-workbench train --method vq_vae --set tokenizer_run=RUN_DIR
--set prior_layers=2` (the tokenizer's settings copied from RUN_DIR's config): the normal
trainer, with RUN_DIR's tokenizer loaded (weights_only) and frozen and only the prior learning
(MaskGIT's second stage). Then prints the run's measures from its last eval event (IS and FID of
1,000 generated signals beside the real and noise baselines, workbench/generative_scores.py),
the prior's loss and masked-token accuracy over its last step events, and the load average:
the figures come from a shared machine.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from plugins.vq_vae import TOKENIZER_SETTINGS, VQVAE
from workbench.build import named_run_config
from workbench.cli import main as cli
from workbench.config import method_config
from workbench.events import read_events
from workbench.rundir import RunDir


def stage_two_args(run_dir: Path, out: Path, epochs: int, layers: int, batch: int, threads: int) -> list[str]:
    """`ssl-workbench train` arguments for the prior on RUN_DIR's frozen tokenizer."""
    first = named_run_config(run_dir, "RUN_DIR")
    tokenizer = method_config(first, VQVAE.Config)
    settings = {k: getattr(tokenizer, k) for k in TOKENIZER_SETTINGS}
    settings.update(tokenizer_run=str(run_dir.resolve()), prior_layers=layers, threads=threads,
                    linear_probe="false", eval_every=epochs)  # the tokenizer's kNN cannot move: one eval
    args = ["train", "--method", "vq_vae", "--dataset", first.dataset, "--epochs", str(epochs),
            "--batch-size", str(batch), "--seed", str(first.seed), "--device", "cpu", "--run-dir", str(out),
            "--quiet"]
    if first.data_root:
        args += ["--data-root", first.data_root]
    for key, value in settings.items():
        args += ["--set", f"{key}={value}"]
    return args


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path, help="a trained vq_vae run on signals (its tokenizer is frozen)")
    ap.add_argument("--epochs", type=int, default=10, help="epochs of prior training (46 steps each at batch 128)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = torch's default)")
    ap.add_argument("--out", type=Path, default=None, help="the stage-two run folder (default: a temporary one)")
    ap.add_argument("--preview", type=Path, default=None, help="copy the last 'generated' preview here (PNG)")
    args = ap.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="vq-prior-")) / "prior"
    started = time.time()
    code = cli(stage_two_args(args.run_dir, out, args.epochs, args.layers, args.batch, args.threads))
    if code != 0:
        sys.exit(code)
    wall = time.time() - started
    events = list(read_events(out))
    steps = [e["logs"] for e in events if e["type"] == "step" and "prior_loss" in e.get("logs", {})]
    measures = [e["measures"] for e in events if e["type"] == "eval" and "measures" in e]
    started_event = next(e for e in events if e["type"] == "started")
    last = np.mean([[s["prior_loss"], s["prior_masked_acc"]] for s in steps[-5:]], 0)
    print(json.dumps({"tokenizer_run": str(args.run_dir), "prior_run": str(out), "epochs": args.epochs,
                      "prior_steps": started_event["total_steps"], "prior_layers": args.layers,
                      "trained_parameters": started_event["parameters"],
                      "prior_loss_last_steps": round(float(last[0]), 3),
                      "prior_masked_acc_last_steps": round(float(last[1]), 3),
                      "uniform_loss": round(math.log(method_config(named_run_config(args.run_dir, "RUN_DIR"),
                                                                   VQVAE.Config).codebook_size), 3),
                      "run_wall_s": round(wall, 1), "measures": measures[-1] if measures else {}}, indent=1))
    if args.preview is not None:
        shots = sorted(RunDir(out).previews.glob("*-generated.png"))
        if shots:
            shutil.copyfile(shots[-1], args.preview)
    print("load average:", open("/proc/loadavg").read().split()[:3])


if __name__ == "__main__":
    main()
