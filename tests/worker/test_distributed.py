"""Two gloo processes on the CPU train like one process on the same global batch; a rank that
dies ends the run with a `failed` event naming it, and `resume` finishes it exactly."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from workbench.checkpoint import load_checkpoint
from workbench.config import new_run_config
from workbench.distributed import FAULT_ENV
from workbench.events import read_events
from workbench.runs import create_run_dir
from workbench.worker import run_worker

# Views without randomness (full-image crop, no jitter/flip/blur on 1-channel digits): one
# process draws each augmentation for the whole global batch at once and two processes draw
# it per slice, so random views would differ by construction. With them fixed, what is left
# to compare is exactly what distribution changes: sharding, gradient averaging, global
# BatchNorm, the gathered negatives and the shared queue.
FIXED_VIEWS = {"crop_min": 1.0, "jitter": 0.0, "flip": False, "blur_p": 0.0}
# float32 sums in a different order (all-reduce, gathered batches) differ in the last bits.
# SGD keeps those differences that small; Adam divides each gradient by its own running
# size, which blows last-bit noise in near-zero gradients up to lr-sized steps.
WEIGHT_ATOL = 1e-5


def make_run(path, method, method_config, **settings):
    settings = {"epochs": 1, "optimizer": "sgd", "lr": 0.05, **settings}
    run = new_run_config(method, "digits", batch_size=256, device="cpu", seed=3, probe_size=64,
                         preview_interval=3600.0, linear_probe=False, threads=1, **settings)
    run.method_config = method_config
    return create_run_dir(run, path=path)


def launch(run_dir, nproc=2, resume=False, env=None):
    """`python -m workbench.launch RUN_DIR --nproc N`, as the CLI and GUI start it."""
    args = [sys.executable, "-m", "workbench.launch", str(run_dir), "--nproc", str(nproc)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(args + (["--resume"] if resume else []), env=env, capture_output=True,
                          text=True, timeout=600)


def weights(run_dir):
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def epoch_losses(run_dir):
    return [ev["loss"] for ev in read_events(run_dir) if ev["type"] == "epoch"]


@pytest.mark.parametrize("method, method_config, sync_bn", [
    ("simclr", {}, "auto"),              # global BN (its paper) + negatives from every rank
    ("byol", {}, "auto"),                # global BN (its paper)
    ("moco", {"bn_splits": 1}, "on"),    # keys of every rank enqueued; BN made global to compare
])
def test_two_processes_train_like_one(tmp_path, method, method_config, sync_bn):
    config = {**FIXED_VIEWS, **method_config}
    one = make_run(tmp_path / "one", method, config, sync_bn=sync_bn)
    two = make_run(tmp_path / "two", method, config, sync_bn=sync_bn)
    assert run_worker(one) == 0
    done = launch(two)
    assert done.returncode == 0, done.stderr[-3000:]

    started = [ev for ev in read_events(two) if ev["type"] == "started"]
    assert [ev["world_size"] for ev in started] == [2]
    assert [ev["type"] for ev in read_events(two)][-1] == "finished"
    assert epoch_losses(two) == pytest.approx(epoch_losses(one), rel=1e-5)
    w1, w2 = weights(one), weights(two)
    assert w1.keys() == w2.keys()
    for name in w1:
        if w1[name].is_floating_point():
            torch.testing.assert_close(w2[name], w1[name], atol=WEIGHT_ATOL, rtol=0, msg=name)


def test_a_dead_rank_fails_the_run_and_resume_finishes_it_exactly(tmp_path):
    # random views here: each rank's draws come from (seed, step, rank), so the resumed run
    # must end exactly where the uninterrupted one does
    whole = make_run(tmp_path / "whole", "simclr", {}, epochs=2)
    broken = make_run(tmp_path / "broken", "simclr", {}, epochs=2)
    assert launch(whole).returncode == 0

    died = launch(broken, env={FAULT_ENV: "1:7"})  # 5 steps per epoch: dies in epoch 2
    assert died.returncode != 0
    last = list(read_events(broken))[-1]
    assert last["type"] == "failed" and last["rank"] == 1
    assert "rank 1" in last["message"]
    assert load_checkpoint(broken / "checkpoints" / "last.pt")["step"] == 5

    again = launch(broken, resume=True)
    assert again.returncode == 0, again.stderr[-3000:]
    events = list(read_events(broken))
    assert events[-1]["type"] == "finished" and events[-1]["step"] == 10
    assert [ev["world_size"] for ev in events if ev["type"] == "started"] == [2, 2]
    w_whole, w_broken = weights(whole), weights(broken)
    for name in w_whole:
        torch.testing.assert_close(w_broken[name], w_whole[name], atol=0, rtol=0, msg=name)
