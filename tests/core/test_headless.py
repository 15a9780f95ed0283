"""The core stays headless: importing all of workbench/ and plugins/ pulls in no Qt and no ui."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import importlib, pkgutil, sys
import workbench, plugins

imported, failed = [], []
for pkg in (workbench, plugins):
    imported.append(pkg.__name__)
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
            imported.append(info.name)
        except Exception as exc:
            failed.append(f"{info.name}: {type(exc).__name__}: {exc}")

banned = sorted(m for m in sys.modules
                if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6", "ui"))
print("IMPORTED", " ".join(imported))
for f in failed:
    print("FAILED", f)
for m in banned:
    print("BANNED", m)
sys.exit(1 if banned or failed else 0)
"""


def test_core_and_plugins_import_no_gui():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    out = proc.stdout + proc.stderr
    banned = [l for l in out.splitlines() if l.startswith("BANNED")]
    failed = [l for l in out.splitlines() if l.startswith("FAILED")]
    assert not banned, "GUI modules imported by the headless core:\n" + "\n".join(banned)
    assert not failed, "modules that fail to import:\n" + "\n".join(failed)
    assert proc.returncode == 0, out[-3000:]
    imported = next(l for l in out.splitlines() if l.startswith("IMPORTED")).split()[1:]
    # the walk really covered the tree, including the data sub-package and every plugin
    for name in ("workbench.config", "workbench.trainer", "workbench.data.embedded",
                 "plugins.simclr", "plugins.rotation", "plugins.autoencoder"):
        assert name in imported, f"{name} was not imported by the walk"
