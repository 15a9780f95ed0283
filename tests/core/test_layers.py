"""The layer rules hold: import-linter's contracts (pyproject.toml) on the tree, each one shown to
break on a tree that breaks it, and a runtime check that the core and plugins load no Qt."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# the rules of docs/ARCHITECTURE.md, by contract id; the config must hold exactly these
CONTRACTS = {
    "core-headless": "workbench never imports Qt, ui or plugins",
    "plugins-independent": "plugins are independent of each other",
    "ui-no-plugins": "ui never imports plugins",
    "ui-no-torch": "ui never imports torch",
}

LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))")


def lint(root: Path, config: Path) -> dict[str, str]:
    """Run lint-imports in `root` (its packages first on the path): contract name -> KEPT/BROKEN."""
    proc = subprocess.run([sys.executable, "-c", LINT, str(config)], cwd=root, capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": str(root), "PATH": ""})
    verdicts = dict(re.findall(r"^(.+?) (KEPT|BROKEN)\b", proc.stdout, flags=re.M))
    assert verdicts, f"lint-imports gave no verdicts:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return verdicts


@pytest.fixture(scope="module")
def tree_verdicts() -> dict[str, str]:
    return lint(ROOT, ROOT / "pyproject.toml")


def test_config_holds_exactly_the_layer_contracts():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert {c["id"]: c["name"] for c in config["contracts"]} == CONTRACTS
    assert set(config["root_packages"]) == {"workbench", "ui", "plugins"}


@pytest.mark.parametrize("contract", CONTRACTS)
def test_tree_keeps_the_contract(contract, tree_verdicts):
    assert tree_verdicts.get(CONTRACTS[contract]) == "KEPT", \
        f"{CONTRACTS[contract]!r} is broken: run `lint-imports` for the offending imports"


OFFENDING_TREE = {
    "workbench/__init__.py": "",
    "workbench/cli.py": "import ui.app\n",  # the one allowed reach into the GUI (`gui` command)
    "workbench/core.py": "import PySide6\n",
    "ui/__init__.py": "",
    "ui/app.py": "",
    "ui/panel.py": "import torch\nfrom plugins import first\n",
    "plugins/__init__.py": "",
    "plugins/first.py": "",
    "plugins/second.py": "from plugins.first import *\n",
}


def test_every_contract_breaks_on_a_tree_that_breaks_it(tmp_path):
    """The same config on a small tree with one offending import per rule: all four broken, so
    none of the checks above can pass vacuously."""
    for name, text in OFFENDING_TREE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    config = tmp_path / "pyproject.toml"
    config.write_text((ROOT / "pyproject.toml").read_text())
    assert lint(tmp_path, config) == {name: "BROKEN" for name in CONTRACTS.values()}
    (tmp_path / "workbench/core.py").write_text("")  # fixing one offence fixes its contract alone
    assert lint(tmp_path, config)[CONTRACTS["core-headless"]] == "KEPT"


RUNTIME_SCRIPT = r"""
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


@pytest.mark.slow  # a subprocess importing the whole tree
def test_core_and_plugins_import_no_gui():
    """At run time too (imports by name, entry points): loading every workbench and plugin
    module pulls in no Qt and no ui."""
    proc = subprocess.run([sys.executable, "-c", RUNTIME_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    out = proc.stdout + proc.stderr
    banned = [l for l in out.splitlines() if l.startswith("BANNED")]
    failed = [l for l in out.splitlines() if l.startswith("FAILED")]
    assert not banned, "GUI modules imported by the headless core:\n" + "\n".join(banned)
    assert not failed, "modules that fail to import:\n" + "\n".join(failed)
    assert proc.returncode == 0, out[-3000:]
    imported = next(l for l in out.splitlines() if l.startswith("IMPORTED")).split()[1:]
    # the walk really covered the tree, including the data sub-package and every plugin
    for name in ("workbench.config", "workbench.trainer", "workbench.data.embedded", "workbench.nn.colour",
                 "plugins.simclr", "plugins.rotation", "plugins.autoencoder", "plugins.deep_infomax"):
        assert name in imported, f"{name} was not imported by the walk"


WINDOW_SCRIPT = r"""
import sys, tempfile
from pathlib import Path
from ui.app import make_app
app = make_app([sys.argv[0]])
from ui.main_window import MainWindow
window = MainWindow(Path(tempfile.mkdtemp()))
window.show()
app.processEvents()
print("METHODS", len(window.panel._method_items))
print("TORCH", "torch" in sys.modules, any(m.startswith("plugins.") for m in sys.modules))
"""


@pytest.mark.slow  # two subprocesses building the main window
def test_main_window_paints_without_torch(tmp_path):
    """The window is built and shown without importing torch or a plugin once the method listing is
    cached (the first start writes it): torch costs seconds the user would wait for a first paint."""
    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "SSL_WORKBENCH_CACHE": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", WINDOW_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                           timeout=300, env=env) for _ in range(2)]
    for proc in runs:
        assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [dict(l.split(" ", 1) for l in p.stdout.splitlines() if l.startswith(("METHODS", "TORCH"))) for p in runs]
    assert lines[0]["TORCH"] == "True True"  # no listing yet: read from the classes, then cached
    assert lines[1]["TORCH"] == "False False", "the second start imported torch or a plugin before painting"
    assert lines[1]["METHODS"] == lines[0]["METHODS"] and int(lines[0]["METHODS"]) > 10
