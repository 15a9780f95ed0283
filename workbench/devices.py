"""The compute devices this machine offers, named for a device selector (torch imported only when asked)."""
from __future__ import annotations


def available_devices() -> list[tuple[str, str]]:
    """(value, label) pairs for a device selector, naming what was detected: auto, cpu, then cuda / mps if present."""
    import torch

    from .build import describe_device, pick_device

    auto = describe_device(pick_device("auto"))
    out = [("auto", f"Auto — {auto}"), ("cpu", f"CPU ({torch.get_num_threads()} threads)")]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out.append(("cuda", f"CUDA — {props.name} ({props.total_memory / 2**30:.1f} GiB)"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append(("mps", "Apple MPS"))
    return out
