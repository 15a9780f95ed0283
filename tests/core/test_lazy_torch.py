"""The CLI and the modules behind the GUI's maps import without torch, so `ssl-workbench
--help` answers at once and the window is not held up by torch's import."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

TORCH_FREE = ["workbench.cli", "workbench.data", "workbench.data.base", "workbench.checkpoint",
              "workbench.spec", "workbench.explore", "workbench.analysis", "workbench.embeddings",
              "workbench.export", "workbench.runs", "workbench.config", "workbench.allocator",
              "ui.analogy_panel", "ui.export_dialog"]

CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
    if "torch" in sys.modules:
        print(name)
        break
"""


@pytest.mark.slow  # a subprocess
def test_cli_and_map_modules_import_without_torch():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", CHECK, *TORCH_FREE], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"importing {done.stdout.strip()} imports torch"


@pytest.mark.slow  # a subprocess
def test_cli_help_imports_no_torch():
    code = ("import sys\nfrom workbench.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stderr.strip().splitlines()[-1] == "False", done.stderr[-2000:]
    assert "usage" in done.stdout
