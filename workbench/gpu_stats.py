"""GPU memory and utilisation for step events, read without waiting for the GPU."""
from __future__ import annotations

import torch


def gpu_fields(device: torch.device) -> dict[str, float]:
    """Step-event fields for a CUDA device, {} elsewhere: peak, allocated and reserved memory
    (MB, from PyTorch's caching allocator) and, when nvidia-ml-py can reach the driver,
    utilisation (% of the last sample period the GPU was busy)."""
    if device.type != "cuda":
        return {}
    mb = 2 ** 20
    fields = {"gpu_mem_mb": round(torch.cuda.max_memory_allocated(device) / mb, 1),
              "gpu_mem_alloc_mb": round(torch.cuda.memory_allocated(device) / mb, 1),
              "gpu_mem_reserved_mb": round(torch.cuda.memory_reserved(device) / mb, 1)}
    try:  # torch maps the CUDA index to NVML's (CUDA_VISIBLE_DEVICES); it needs pynvml
        fields["gpu_util"] = float(torch.cuda.utilization(device))
    except Exception:  # no nvidia-ml-py, no NVML in a container, or a non-NVIDIA build
        pass
    return fields
