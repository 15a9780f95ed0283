"""Tests of workbench.optim: the warm-up/cosine schedule and each optimiser choice."""
from __future__ import annotations

import pytest
import torch

from workbench.config import RunConfig
from workbench.optim import LARS, WarmupCosine, build_optimizer, build_scheduler


def test_warmup_is_a_linear_ramp_to_one():
    f = WarmupCosine(warmup=10, total=100)
    ramp = [f(s) for s in range(10)]
    assert ramp[0] == pytest.approx(0.1)
    assert ramp[-1] == pytest.approx(1.0)
    diffs = [b - a for a, b in zip(ramp, ramp[1:])]
    assert all(d == pytest.approx(0.1) for d in diffs)


def test_cosine_decays_monotonically_to_zero():
    f = WarmupCosine(warmup=10, total=100)
    values = [f(s) for s in range(10, 101)]
    assert values[0] == pytest.approx(1.0)
    assert all(b <= a for a, b in zip(values, values[1:]))
    assert values[-1] == pytest.approx(0.0, abs=1e-9)
    assert f(55) == pytest.approx(0.5)  # half-way through the decay
    assert f(1000) == pytest.approx(0.0, abs=1e-9)  # clamped past the end
    assert max(f(s) for s in range(0, 120)) == pytest.approx(1.0)


def test_no_warmup_starts_at_peak():
    f = WarmupCosine(warmup=0, total=10)
    assert f(0) == 1.0
    assert f(10) == pytest.approx(0.0, abs=1e-9)


def test_build_scheduler_steps_the_lr():
    p = torch.nn.Parameter(torch.zeros(2))
    cfg = RunConfig(optimizer="sgd", lr=0.1, epochs=2, warmup_epochs=1)
    opt = build_optimizer([p], cfg)
    sched = build_scheduler(opt, cfg, steps_per_epoch=5)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.02)
    assert max(lrs) == pytest.approx(0.1)
    assert lrs[4] == pytest.approx(0.1)
    assert lrs[-1] < 0.02


class Quadratic(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(4, 3))
        self.b = torch.nn.Parameter(torch.randn(3))
        self.frozen = torch.nn.Parameter(torch.randn(3), requires_grad=False)

    def loss(self):
        return (self.w ** 2).sum() + ((self.b - 1) ** 2).sum() + (self.frozen ** 2).sum()


@pytest.mark.parametrize("name, lr", [("adam", 0.1), ("adamw", 0.1), ("sgd", 0.05), ("lars", 1.0)])
def test_each_optimizer_reduces_a_quadratic(name, lr):
    model = Quadratic()
    cfg = RunConfig(optimizer=name, lr=lr, weight_decay=0.0, momentum=0.9)
    opt = build_optimizer(model.parameters(), cfg)
    frozen = model.frozen.detach().clone()
    start = model.loss().item()
    for _ in range(3):
        opt.zero_grad()
        model.loss().backward()
        opt.step()
    end = model.loss().item()
    assert end < start - 1e-3, (name, start, end)
    assert torch.equal(model.frozen, frozen)


@pytest.mark.parametrize("name, cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                       ("sgd", torch.optim.SGD), ("lars", LARS)])
def test_frozen_parameters_are_excluded(name, cls):
    model = Quadratic()
    cfg = RunConfig(optimizer=name, lr=0.01, weight_decay=0.01, momentum=0.5)
    opt = build_optimizer(model.parameters(), cfg)
    assert isinstance(opt, cls)
    params = [p for g in opt.param_groups for p in g["params"]]
    assert len(params) == 2
    assert all(p is not model.frozen for p in params)
    assert opt.param_groups[0]["lr"] == 0.01
    assert opt.param_groups[0]["weight_decay"] == 0.01


def test_unknown_optimizer():
    cfg = RunConfig()
    cfg.optimizer = "rmsprop"
    with pytest.raises(ValueError, match="rmsprop"):
        build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg)


def test_lars_skips_adaptation_for_1d_parameters():
    # a bias takes a plain SGD step; a matrix's step is scaled by the trust ratio
    w = torch.nn.Parameter(torch.ones(2, 2))
    b = torch.nn.Parameter(torch.ones(2))
    opt = LARS([w, b], lr=1.0, momentum=0.0, weight_decay=0.0, trust_coefficient=0.001)
    w.grad, b.grad = torch.ones(2, 2), torch.ones(2)
    opt.step()
    assert torch.allclose(b, torch.zeros(2))
    assert torch.allclose(w, torch.full((2, 2), 1 - 0.001))  # trust = 0.001 * |w| / |g| = 0.001
