"""Test-wide settings: headless Qt, and runs that never touch the user's folders."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SSL_WORKBENCH_RUNS", os.path.join(os.environ.get("TMPDIR", "/tmp"), "ssl-workbench-test-runs"))
os.environ.setdefault("SSL_WORKBENCH_FLOORS", "off")  # no floor measurements in the background; tests turn them on
os.environ.setdefault("SSL_WORKBENCH_CACHE", os.path.join(os.environ.get("TMPDIR", "/tmp"), f"ssl-workbench-test-cache-{os.getpid()}"))


import pytest  # noqa: E402  (after the environment above, which must come first)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of tiny tensors: they gain nothing from threads, and on a
    busy two-core machine OpenMP workers waiting on each other made such loops ten times slower."""
    import torch  # here, not at the top: GUI tests check what the window imports

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
