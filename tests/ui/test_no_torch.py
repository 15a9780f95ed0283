"""No module under ui/ imports torch (or plugins): the widgets reach the models only through workbench/."""
from __future__ import annotations

import ast
from pathlib import Path

UI = Path(__file__).resolve().parents[2] / "ui"


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_ui_imports_neither_torch_nor_plugins():
    offenders = {str(p.relative_to(UI.parent)): sorted(imported_roots(p) & {"torch", "torchvision", "plugins"})
                 for p in sorted(UI.rglob("*.py"))}
    assert {k: v for k, v in offenders.items() if v} == {}
