"""What starting the window imports: not the CUDA runtime bindings pyqtgraph would bring, nor h5py."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
import ui.main_window
import pyqtgraph.widgets.RawImageWidget as raw
print(json.dumps({"cuda": sorted(m for m in sys.modules if m == "cuda" or m.startswith("cuda.")),
                  "h5py": "h5py" in sys.modules, "pyqtgraph_cuda": raw.cudart is not None}))
"""


def test_the_window_imports_neither_cuda_bindings_nor_h5py():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"cuda": [], "h5py": False, "pyqtgraph_cuda": False}


@pytest.mark.skipif(importlib.util.find_spec("cuda") is None, reason="cuda-python is not installed here")
def test_cuda_bindings_still_import_after_pyqtgraph():
    code = "import ui, pyqtgraph; import cuda.bindings.runtime; print('ok')"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
