"""Bounded glibc malloc settings for the training process, so freed tensor memory is reused, not refaulted.

glibc serves blocks above its mmap threshold (32 MB at most while it adapts) with fresh mmaps
and hands the top of the heap back to the OS once more than the trim threshold is free. A
training step allocates and frees the same large activations every step, so by default each
step maps, faults in and unmaps them again: tens of thousands of page faults and a large share
of kernel time per step (docs/BENCHMARKS.md). Raising both thresholds to fixed, bounded values
keeps those blocks in the heap between steps; the trim threshold caps how much freed memory
the process may keep. It must exceed what one step frees at the top of the heap: at 256 MB a
batch-256 step of the small CNN (a heap of ~0.9 GB) still had its top trimmed and faulted back
in, 16,000-50,000 pages a step, in about half the runs (which ones depends on where the heap's
blocks happen to lie). Keeping the top costs no peak memory: it is memory the step had just
used. Elsewhere (not glibc, not Linux) nothing is changed.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameter numbers from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# Blocks below this come from the heap and are reused across steps (a batch-256 step of the
# small CNN frees blocks of up to ~100 MB); larger ones are still mapped and returned at once.
MMAP_THRESHOLD = 128 * 2**20
# At most this much freed memory stays with the process before glibc trims the heap top: more
# than a step frees at once (so steps do not refault it), bounded for larger models.
TRIM_THRESHOLD = 1024 * 2**20
# Set to "0" to keep glibc's defaults (e.g. to compare).
ENV_SWITCH = "SSL_WORKBENCH_MALLOC_TUNING"

applied: dict[str, int] = {}  # what tune_allocator set in this process (empty: nothing)


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # glibc only: musl has no mallopt thresholds
        return libc
    except (OSError, AttributeError):
        return None


def tune_allocator() -> dict[str, int]:
    """Apply the bounded thresholds once, before training allocates; returns what was set.

    Explicit MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ variables win (they are the
    user's), as does SSL_WORKBENCH_MALLOC_TUNING=0.
    """
    if applied or os.environ.get(ENV_SWITCH, "1") == "0":
        return dict(applied)
    libc = _libc()
    if libc is None:
        return {}
    wanted = {"mmap_threshold": (M_MMAP_THRESHOLD, MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_"),
              "trim_threshold": (M_TRIM_THRESHOLD, TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_")}
    for name, (param, value, env) in wanted.items():
        if env in os.environ:
            continue
        if libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1:
            applied[name] = value
    return dict(applied)
