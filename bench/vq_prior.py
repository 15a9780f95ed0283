"""The MaskGIT prior's IS / FID on signals, two-stage: a trained vq_vae run's tokens, then the prior alone.

    python bench/vq_prior.py RUN_DIR [--steps 150] [--preview out.png]

Loads RUN_DIR's VQ-VAE (weights_only), adds the prior of `--set prior_layers=2` (the same
module a run with that setting trains alongside its tokenizer), tokenises the train split
once, trains only the prior for --steps Adam steps on those tokens (MaskGIT's second stage),
then prints the method's measures: IS and FID of 1,000 generated signals beside the real and
noise baselines (workbench/generative_scores.py). Prints the load average: the figures come
from a shared machine.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from workbench.build import build_method, load_from_run
from workbench.data.base import model_input
from workbench.measures import method_measures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--preview", type=Path, default=None, help="write the 'generated' preview here (PNG)")
    args = ap.parse_args()

    tokenizer = load_from_run(args.run_dir, "last", device="cpu")
    run = dataclasses.replace(tokenizer.run, method_config={**tokenizer.run.method_config,
                                                            "prior_layers": args.layers})
    method = build_method(run, tokenizer.dataset, "cpu", initial_weights=False)
    missing, unexpected = method.load_state_dict(tokenizer.method.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("prior.") for k in missing), (missing, unexpected)
    data = tokenizer.dataset
    x, y = model_input(data.x_train).float(), data.y_train

    method.eval()  # the tokenizer is frozen: its BatchNorm statistics and codewords stay
    started = time.time()
    with torch.no_grad():
        ids = torch.cat([method.quantise(method.encode(c))[2] for c in x.split(500)])
    method.prior.train()
    opt = torch.optim.Adam(method.prior.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    log = []
    for step in range(args.steps):
        pick = torch.randint(len(ids), (args.batch,), generator=g)
        loss, acc = method._prior_step(ids[pick], y[pick])
        opt.zero_grad()
        loss.backward()
        opt.step()
        log.append((loss.item(), acc.item()))
    trained = time.time() - started
    method.eval()
    started = time.time()
    measures = method_measures(method, data, torch.device("cpu"))
    scored = time.time() - started
    last = np.mean(log[-20:], 0)
    print(json.dumps({"run": str(args.run_dir), "prior_steps": args.steps, "prior_layers": args.layers,
                      "prior_loss_last20": round(float(last[0]), 3), "prior_masked_acc_last20": round(float(last[1]), 3),
                      "uniform_loss": round(float(np.log(method.cfg.codebook_size)), 3),
                      "tokenise_and_train_s": round(trained, 1), "measures_s": round(scored, 1),
                      "measures": measures}, indent=1))
    if args.preview is not None:
        from PIL import Image
        from workbench.api import Batch
        with torch.no_grad():
            preview = method.previews(Batch(model_input(data.x_test[:64]).float(), data.y_test[:64],
                                            torch.arange(64)))["generated"]
        Image.fromarray(preview.grid()).save(args.preview)
    print("load average:", open("/proc/loadavg").read().split()[:3])


if __name__ == "__main__":
    main()
