"""The training process sets bounded malloc thresholds before it trains (workbench.allocator)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from workbench import allocator, cli, worker

glibc = pytest.mark.skipif(allocator._libc() is None, reason="needs glibc's mallopt")


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(allocator, "applied", {})
    for var in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", allocator.ENV_SWITCH):
        monkeypatch.delenv(var, raising=False)


@glibc
def test_tune_allocator_sets_bounded_thresholds(fresh):
    got = allocator.tune_allocator()
    assert got == {"mmap_threshold": allocator.MMAP_THRESHOLD, "trim_threshold": allocator.TRIM_THRESHOLD}
    # bounded: freed memory kept by the process stays within a gigabyte
    assert allocator.TRIM_THRESHOLD <= 2**30
    assert allocator.tune_allocator() == got  # once per process


@glibc
def test_users_malloc_variables_and_switch_win(fresh, monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000")
    assert allocator.tune_allocator() == {"mmap_threshold": allocator.MMAP_THRESHOLD}
    monkeypatch.setattr(allocator, "applied", {})
    monkeypatch.setenv(allocator.ENV_SWITCH, "0")
    assert allocator.tune_allocator() == {}


def test_worker_process_applies_the_allocator_setting(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(worker, "tune_allocator", lambda: calls.append("tuned"))
    monkeypatch.setattr(sys, "stdin", open("/dev/null"))
    # not a run folder: refused after the setup every worker does
    assert worker.main([str(tmp_path)]) == 2
    assert calls == ["tuned"]


def test_cli_train_path_applies_the_allocator_setting(monkeypatch, tmp_path):
    calls = []

    def fake_run_worker(*args, **kwargs):
        calls.append("trained")
        return 0

    monkeypatch.setattr(allocator, "tune_allocator", lambda: calls.append("tuned"))
    monkeypatch.setattr(worker, "run_worker", fake_run_worker)
    monkeypatch.setattr(cli, "_report", lambda run_dir, code: code)
    assert cli._run(tmp_path, resume=False, quiet=True) == 0
    assert calls == ["tuned", "trained"]


# One "training step" in a fresh process: take blocks the size of a step's activations from
# the heap, touch them, free them, and count the page faults of doing it again. A step of the
# small CNN at batch 256 frees several hundred MB at the top of the heap.
_STEP_AGAIN = """
import ctypes, resource, sys
from workbench.allocator import tune_allocator
tune_allocator()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
block, count = 40 * 2**20, 10  # 400 MB in blocks under the mmap threshold

def step():
    blocks = [libc.malloc(block) for _ in range(count)]
    for b in blocks:
        libc.memset(b, 1, block)
    for b in reversed(blocks):
        libc.free(b)

step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@glibc
def test_a_second_step_reuses_the_memory_the_first_freed():
    """The heap top a step frees stays with the process, so the next step faults nothing in
    (with the former 256 MB trim threshold, glibc gave it back and the step faulted ~100,000
    pages in again)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", allocator.ENV_SWITCH)}
    out = subprocess.run([sys.executable, "-c", _STEP_AGAIN], env=env, capture_output=True,
                         text=True, check=True)
    pages = 10 * 40 * 2**20 // os.sysconf("SC_PAGE_SIZE")
    assert int(out.stdout) < pages // 20, out.stdout
