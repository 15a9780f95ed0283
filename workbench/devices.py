"""The compute devices this machine offers, named for a device selector, without importing torch
(the run panel asks before the window first paints): CUDA GPUs through the driver's NVML library."""
from __future__ import annotations

import ctypes
import os
import platform
import sys


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _first_gpu() -> str | None:
    """'NVIDIA H100 (79.1 GiB)' for the first visible CUDA GPU, from NVML; None without one."""
    from .launch import gpu_count, nvml_session
    if gpu_count() == 0:
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    index = int(visible.split(",")[0]) if visible and visible.split(",")[0].strip().isdigit() else 0
    handle, name = ctypes.c_void_p(), ctypes.create_string_buffer(96)
    memory = (ctypes.c_ulonglong * 3)()  # total, free, used
    with nvml_session() as nvml:
        if (nvml is None or nvml.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(handle)) != 0
                or nvml.nvmlDeviceGetName(handle, name, 96) != 0):
            return "CUDA GPU"
        label = name.value.decode(errors="replace")
        if nvml.nvmlDeviceGetMemoryInfo(handle, memory) != 0:
            return label
    return f"{label} ({memory[0] / 2**30:.1f} GiB)"


def available_devices() -> list[tuple[str, str]]:
    """(value, label) pairs for a device selector, naming what was detected: auto, cpu, then cuda / mps if present."""
    cores = _cpu_cores()
    cpu = f"CPU ({cores} core{'' if cores == 1 else 's'})"
    gpu = _first_gpu()
    mps = sys.platform == "darwin" and platform.machine() == "arm64"
    auto = f"CUDA: {gpu}" if gpu else "Apple MPS" if mps else cpu
    out = [("auto", f"Auto — {auto}"), ("cpu", cpu)]
    if gpu:
        out.append(("cuda", f"CUDA — {gpu}"))
    if mps:
        out.append(("mps", "Apple MPS"))
    return out
