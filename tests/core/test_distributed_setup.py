"""One process is untouched by the distributed hooks; several are set up and checked up front."""
from __future__ import annotations

import pytest
import torch

from workbench.config import ConfigError, RunConfig
from workbench.distributed import (LOCAL, GlobalBatchNorm, convert_batchnorm,
                                   from_env, gather, gather_with_grad, sum_over_ranks,
                                   uses_sync_batchnorm)
from workbench.launch import worker_command
from workbench.optim import scaled_lr


def test_cross_rank_operations_are_identity_on_one_process():
    x = torch.randn(4, 3, requires_grad=True)
    assert gather_with_grad(x) is x and gather(x) is x and sum_over_ranks(x) is x


def test_one_process_context_changes_nothing(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = from_env()
    assert ctx == LOCAL and ctx.is_main and not ctx.enabled
    order = torch.arange(10)
    assert ctx.shard(order) is order
    loss = torch.tensor(1.5)
    assert ctx.average(loss) is loss
    assert ctx.share_commands([{"type": "stop"}]) == [{"type": "stop"}]
    state = torch.get_rng_state()
    ctx.begin_step(0, 5)  # no reseeding on one process: its RNG stream is the old one
    assert torch.equal(torch.get_rng_state(), state)


def test_torchrun_environment_gives_rank_and_slice(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    ctx = from_env()
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.is_main) == (2, 4, 0, False)
    assert ctx.shard(torch.arange(8)).tolist() == [4, 5]  # rank r takes the r-th slice
    with pytest.raises(ConfigError, match="does not split evenly over 4 processes"):
        ctx.check_batch(6)


def test_global_batchnorm_is_plain_batchnorm_on_one_process():
    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    converted = convert_batchnorm(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)),
                                  torch.device("cpu"))
    converted.load_state_dict(plain.state_dict())  # same keys as BatchNorm
    assert isinstance(converted[1], GlobalBatchNorm)
    x = torch.rand(5, 3, 8, 8)
    assert torch.equal(converted(x), plain(x))
    assert torch.equal(converted[1].running_var, plain[1].running_var)


def test_sync_batchnorm_follows_the_paper_unless_set():
    assert uses_sync_batchnorm(RunConfig(method="simclr"))
    assert uses_sync_batchnorm(RunConfig(method="byol"))
    assert not uses_sync_batchnorm(RunConfig(method="moco"))  # shuffling BN per GPU
    assert uses_sync_batchnorm(RunConfig(method="moco", sync_bn="on"))
    assert not uses_sync_batchnorm(RunConfig(method="simclr", sync_bn="off"))


@pytest.mark.parametrize("scaling, expected", [("none", 0.1), ("linear", 0.4), ("sqrt", 0.2)])
def test_learning_rate_scales_with_the_global_batch(scaling, expected):
    cfg = RunConfig(lr=0.1, batch_size=1024, lr_base_batch=256, lr_scaling=scaling)
    assert scaled_lr(cfg) == pytest.approx(expected)


def test_worker_command_uses_the_launcher_for_several_processes(tmp_path):
    assert worker_command(tmp_path) == ["-m", "workbench.worker", str(tmp_path)]
    assert worker_command(tmp_path, 4, resume=True, nice=10) == [
        "-m", "workbench.launch", str(tmp_path), "--nproc", "4", "--nice", "10", "--resume"]
