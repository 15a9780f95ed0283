"""Fixtures for worker tests: tiny, fast run directories on the embedded digits data."""
from __future__ import annotations

import pytest

from workbench.config import new_run_config
from workbench.runs import create_run_dir


@pytest.fixture
def make_run(tmp_path):
    """Create a run directory for a tiny CPU run; keyword arguments override settings."""
    counter = iter(range(1000))

    def _make(method: str = "rotation", dataset: str = "digits", **settings):
        defaults = dict(epochs=2, batch_size=64, device="cpu", probe_size=200,
                        preview_interval=0.0, linear_probe=False, threads=1)
        defaults.update(settings)
        method_config = defaults.pop("method_config", {})
        run = new_run_config(method, dataset, **defaults)
        run.method_config = method_config
        return create_run_dir(run, path=tmp_path / f"run{next(counter)}")

    return _make
