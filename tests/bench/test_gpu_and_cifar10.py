"""bench/gpu.py and bench/cifar10.py run end to end on CPU with tiny settings (so they cannot rot)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.slow  # runs benchmarks


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_gpu_bench_on_cpu_says_so_and_compares_with_a_bare_loop(capsys, one_thread):
    gpu = _load("gpu")
    assert gpu.main(["--device", "cpu", "--threads", "1", "--epochs", "1", "--batch-size", "128"]) == 0
    out = capsys.readouterr().out
    assert "ran on cpu with tiny settings" in out
    assert "bare PyTorch loop" in out and "workbench trainer" in out
    ratio = float(out.split("ratio trainer / bare")[1].split()[0])
    assert ratio > 0
    if not gpu.has_data_path_setting():
        assert "stream vs memory: skipped" in out
    assert "n/a (no CUDA)" in out


def test_cifar10_bench_on_synthetic_images(capsys, one_thread):
    cifar = _load("cifar10")
    code = cifar.main(["--synthetic", "--epochs", "1", "--limit", "96", "--batch-size", "32",
                       "--backbone", "small_cnn", "--methods", "simclr", "--device", "cpu",
                       "--threads", "1"])
    assert code == 0
    out = capsys.readouterr().out
    assert "synthetic 32x32 images (96 train)" in out
    row = out.split("kNN k=200")[1].splitlines()[1].split()
    assert row[0] == "1" and float(row[1]) > 0 and 0.0 <= float(row[4]) <= 1.0
    assert "0.848" in out  # the published figure stands beside ours


def test_cifar10_bench_without_the_data_says_how_to_get_it(tmp_path, capsys):
    cifar = _load("cifar10")
    assert cifar.main(["--data-root", str(tmp_path), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "CIFAR-10 is not in" in err and "--synthetic" in err and "cifar-10-batches-py" in err


def test_synthetic_images_and_subsets():
    cifar = _load("cifar10")
    data = cifar.synthetic_cifar(40, 20)
    assert data.x_train.shape == (40, 3, 32, 32) and data.x_train.dtype == torch.uint8
    assert sorted(data.y_train.unique().tolist()) == list(range(10))
    small = cifar.subset(data, 20)
    assert len(small.x_train) == 20 and len(small.x_test) == 10
