"""The run panel's device list is found without torch: CPU always, a CUDA GPU named through the driver's NVML."""
from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

import workbench.launch
from workbench import devices


class FakeNVML:
    """The four NVML calls devices.py makes, answering as a driver with one H200 would."""

    def nvmlInit_v2(self):
        return 0

    def nvmlShutdown(self):
        return 0

    def nvmlDeviceGetHandleByIndex_v2(self, index, handle):
        return 0

    def nvmlDeviceGetName(self, handle, buffer, size):
        buffer.value = b"NVIDIA H200"
        return 0

    def nvmlDeviceGetMemoryInfo(self, handle, memory):
        memory[0] = 143_771_000_832
        return 0


def test_cpu_only_machine_offers_auto_and_cpu(monkeypatch):
    monkeypatch.setattr(workbench.launch, "gpu_count", lambda: 0)
    listed = dict(devices.available_devices())
    assert list(listed) == ["auto", "cpu"] and listed["cpu"].startswith("CPU (")
    assert listed["auto"] == f"Auto — {listed['cpu']}"


def test_a_gpu_is_named_with_its_memory(monkeypatch):
    monkeypatch.setattr(workbench.launch, "gpu_count", lambda: 1)
    monkeypatch.setattr(ctypes, "CDLL", lambda name: FakeNVML())
    listed = dict(devices.available_devices())
    assert listed["cuda"] == "CUDA — NVIDIA H200 (133.9 GiB)"
    assert listed["auto"] == "Auto — CUDA: NVIDIA H200 (133.9 GiB)"


@pytest.mark.slow  # a subprocess
def test_listing_devices_imports_no_torch():
    code = "import sys; from workbench.devices import available_devices; available_devices(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
