"""The trainer's GPU hygiene: losses stay on the device between step events, NaN checks run
when events go out and before every checkpoint, opt-in torch.compile, GPU fields in events."""
from __future__ import annotations

import pytest
import torch

from workbench import trainer as trainer_module
from workbench.config import new_run_config, validate
from workbench.gpu_stats import gpu_fields
from workbench.worker import run_worker


pytestmark = pytest.mark.slow  # trains runs in worker processes


def test_losses_are_read_once_per_step_event_not_once_per_step(make_run, monkeypatch):
    monkeypatch.setattr(trainer_module, "STEP_EVENT_INTERVAL", 1e9)  # events only at epoch ends
    checked: list[int] = []
    original = trainer_module.Trainer.check_losses

    def spy(self):
        checked.append(len(self._unchecked_losses))
        return original(self)

    monkeypatch.setattr(trainer_module.Trainer, "check_losses", spy)
    seen = []
    assert run_worker(make_run(epochs=2), listeners=[seen.append]) == 0
    steps = [e for e in seen if e["type"] == "step"]
    assert len(steps) == 2  # digits, batch 64: 22 steps per epoch, one event each epoch
    # every event reads all its epoch's 22 losses in one go; the saves after it find none left
    assert [n for n in checked if n] == [22, 22]
    epochs = [e for e in seen if e["type"] == "epoch"]
    assert all(e["loss"] > 0 for e in epochs)
    assert steps[-1]["loss"] == pytest.approx(epochs[-1]["loss"], rel=1e-5)


def test_a_nan_between_step_events_never_reaches_a_checkpoint(make_run, monkeypatch):
    # the NaN comes two steps before a pause and long before any step event: the pause's save
    # must find it, fail the run, and leave no diverged last.pt behind
    from plugins.rotation import Rotation

    monkeypatch.setattr(trainer_module, "STEP_EVENT_INTERVAL", 1e9)
    run_dir = make_run(epochs=2)
    original = Rotation.training_step
    calls = {"n": 0}
    holder = {}

    def diverging(self, batch):
        out = original(self, batch)
        calls["n"] += 1
        if calls["n"] == 5:
            out.loss = out.loss * float("nan")
        if calls["n"] == 7:
            holder["commands"].put({"type": "pause"})
        return out

    real_init = trainer_module.Trainer.__init__

    def keep_queue(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        holder["commands"] = self.commands

    monkeypatch.setattr(trainer_module.Trainer, "__init__", keep_queue)
    monkeypatch.setattr(Rotation, "training_step", diverging)
    seen = []
    assert run_worker(run_dir, listeners=[seen.append]) == 3
    assert seen[-1]["type"] == "failed"
    assert "became nan at step 4 (epoch 1)" in seen[-1]["message"]
    assert not any(e["type"] in ("paused", "checkpoint") for e in seen)
    assert not (run_dir / "checkpoints" / "last.pt").exists()


def test_compile_is_an_opt_in_run_setting(make_run, monkeypatch):
    assert new_run_config("rotation", "digits").compile is False
    run = new_run_config("rotation", "digits", compile=True)
    validate(run)
    compiled = []

    def fake_compile(fn, **kwargs):  # inductor would build C++ for minutes on this CPU
        compiled.append(fn.__name__)
        return fn

    monkeypatch.setattr(torch, "compile", fake_compile)
    assert run_worker(make_run(epochs=1), listeners=[]) == 0
    assert compiled == []
    assert run_worker(make_run(epochs=1, compile=True), listeners=[]) == 0
    assert compiled == ["training_step"]  # the step, not the modules: checkpoint keys unchanged


def test_gpu_fields_only_on_cuda(monkeypatch):
    assert gpu_fields(torch.device("cpu")) == {}
    mb = 2 ** 20
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d: 300 * mb)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d: 200 * mb)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda d: 512 * mb)
    monkeypatch.setattr(torch.cuda, "utilization", lambda d: 87)
    assert gpu_fields(torch.device("cuda:0")) == {"gpu_mem_mb": 300.0, "gpu_mem_alloc_mb": 200.0,
                                                  "gpu_mem_reserved_mb": 512.0, "gpu_util": 87.0}

    def no_nvml(d):
        raise ModuleNotFoundError("pynvml")

    monkeypatch.setattr(torch.cuda, "utilization", no_nvml)
    assert "gpu_util" not in gpu_fields(torch.device("cuda:0"))
