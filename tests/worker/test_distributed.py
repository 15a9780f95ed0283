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
from workbench.distributed import FAULT_ENV, convert_batchnorm, gather_with_grad
from workbench.events import read_events
from workbench.runs import create_run_dir
from workbench.worker import run_worker

# Views without randomness (full-image crop, no jitter/flip/blur on 1-channel digits): one
# process draws each augmentation for the whole global batch at once and two processes draw
# it per slice, so random views would differ by construction. With them fixed, what is left
# to compare is exactly what distribution changes: sharding, gradient averaging, global
# BatchNorm, the gathered negatives and the shared queue.
FIXED_VIEWS = {"crop_min": 1.0, "jitter": 0.0, "flip": False, "blur_p": 0.0}
# float32 sums in a different order (all-reduce, gathered batches, other conv blockings for
# other batch sizes) differ in the last bits, and training amplifies them: measured on this
# setup, the loss of one and two processes agrees to 1e-7 at step 1 and a few 1e-6 at step 2,
# then drifts ~10x per step. So: 2 steps of plain SGD at a gentle lr (Adam divides each gradient by
# its own running size and blows last-bit noise in near-zero gradients up to lr-sized steps).
# Measured largest weight differences: SimCLR and MoCo below 1e-5, BYOL 1.6e-5 (first conv);
# a wrong gradient average (sum, or one rank's only) moves weights by ~1e-2 here.
WEIGHT_ATOL = 5e-5
BATCH = 480  # 1,438 digits: 2 steps per epoch


pytestmark = pytest.mark.slow  # torchrun subprocesses


def _simclr_gradients(rank: int, world: int, port: int, out: str) -> None:
    """One SimCLR step in float64 on rank `rank` of `world` (world 1: the whole batch), through
    DDP, global BatchNorm and the gathered negatives; the gradients are saved to `out`."""
    import gc

    import torch.distributed as dist
    from torch import nn

    from plugins.simclr import nt_xent
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4)).double()
    x = torch.randn(8, 6, dtype=torch.float64)
    views = (x, x.flip(1) * 0.5 + 0.1)
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world)
        convert_batchnorm(net, torch.device("cpu"))
        net = nn.parallel.DistributedDataParallel(net)
        per = len(x) // world
        views = tuple(v[rank * per:(rank + 1) * per] for v in views)
    z1, z2 = net(torch.cat(views)).chunk(2)
    nt_xent(gather_with_grad(z1), gather_with_grad(z2), 0.5).backward()
    if rank == 0:
        torch.save([p.grad for p in net.parameters()], out)
    if world > 1:
        # Leave together, and free DDP (its reducer holds the group) before destroying the group:
        # a group freed at interpreter exit instead can abort the process from gloo's threads
        # (SIGABRT, "terminate called without an active exception", seen once under load).
        del net, z1, z2
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()


def test_gathered_loss_and_global_batchnorm_give_one_process_gradients(tmp_path):
    # float64: no rounding noise to hide behind, so a wrong gradient path shows at 1e-12
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _simclr_gradients(0, 1, port, str(tmp_path / "one.pt"))
    mp.spawn(_simclr_gradients, args=(2, port, str(tmp_path / "two.pt")), nprocs=2)
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    for g1, g2 in zip(one, two):
        torch.testing.assert_close(g2, g1, atol=1e-12, rtol=0)


def make_run(path, method, method_config, **settings):
    settings = {"epochs": 1, "optimizer": "sgd", "lr": 0.005, **settings}
    run = new_run_config(method, "digits", batch_size=BATCH, device="cpu", seed=3, probe_size=64,
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
    assert started[0]["device"].endswith("× 2 processes")  # what the dashboard's header shows
    assert "find_unused_parameters" not in done.stderr  # DDP warns when the search finds nothing
    assert [ev["type"] for ev in read_events(two)][-1] == "finished"
    assert epoch_losses(two) == pytest.approx(epoch_losses(one), rel=1e-5)
    w1, w2 = weights(one), weights(two)
    assert w1.keys() == w2.keys()
    for name in w1:
        if w1[name].is_floating_point():
            torch.testing.assert_close(w2[name], w1[name], atol=WEIGHT_ATOL, rtol=0,
                                       msg=lambda text, name=name: f"{name}: {text}")


def test_a_dead_rank_fails_the_run_and_resume_finishes_it_exactly(tmp_path):
    # random views here: each rank's draws come from (seed, step, rank), so the resumed run
    # must end exactly where the uninterrupted one does
    whole = make_run(tmp_path / "whole", "simclr", {}, epochs=2)
    broken = make_run(tmp_path / "broken", "simclr", {}, epochs=2)
    assert launch(whole).returncode == 0

    died = launch(broken, env={FAULT_ENV: "1:3"})  # 2 steps per epoch: dies in epoch 2
    assert died.returncode != 0
    last = list(read_events(broken))[-1]
    assert last["type"] == "failed" and last["rank"] == 1
    assert "rank 1" in last["message"]
    assert load_checkpoint(broken / "checkpoints" / "last.pt")["step"] == 2

    again = launch(broken, resume=True)
    assert again.returncode == 0, again.stderr[-3000:]
    events = list(read_events(broken))
    assert events[-1]["type"] == "finished" and events[-1]["step"] == 4
    assert [ev["world_size"] for ev in events if ev["type"] == "started"] == [2, 2]
    w_whole, w_broken = weights(whole), weights(broken)
    for name in w_whole:
        torch.testing.assert_close(w_broken[name], w_whole[name], atol=0, rtol=0, msg=name)
