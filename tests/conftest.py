"""Test-wide settings: headless Qt, and runs that never touch the user's folders."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SSL_WORKBENCH_RUNS", os.path.join(os.environ.get("TMPDIR", "/tmp"), "ssl-workbench-test-runs"))
os.environ.setdefault("SSL_WORKBENCH_FLOORS", "off")  # no floor measurements in the background; tests turn them on
os.environ.setdefault("SSL_WORKBENCH_CACHE", os.path.join(os.environ.get("TMPDIR", "/tmp"), f"ssl-workbench-test-cache-{os.getpid()}"))
