"""The training process sets bounded malloc thresholds before it trains (workbench.allocator)."""
from __future__ import annotations

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
    # bounded: freed memory kept by the process stays well under a gigabyte
    assert allocator.TRIM_THRESHOLD <= 512 * 2**20
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
