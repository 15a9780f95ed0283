"""bench/throughput.py: the bare loop and the trainer it is compared with do the same work."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from workbench.build import build
from workbench.config import new_run_config
from workbench.registry import get_method

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_throughput", ROOT / "bench" / "throughput.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_bare_loop_trains_on_the_images_the_trainer_trains_on(bench):
    run = new_run_config("simclr", "mnist5k", get_method("simclr").run_defaults, device="cpu")
    trainer_data = build(run).dataset
    assert bench.run_data(run).x_train.shape == trainer_data.x_train.shape  # 32 px, not MNIST's 28

