"""The desktop app: PySide6 widgets and pyqtgraph plots over the workbench package."""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

# pyqtgraph's RawImageWidget (unused here) imports cuda.bindings.runtime whenever cuda-python is installed
# (torch's CUDA wheels bring it): 0.1–0.3 s of CPU at every start, for a GPU path of a widget the app never
# shows. pyqtgraph itself is imported after the window's first paint (ui.main_window), not with this package.
RAW_IMAGE_WIDGET = "pyqtgraph.widgets.RawImageWidget"


class _CudaHidden(importlib.abc.Loader):
    """Runs a module's loader with cuda.bindings hidden (its import raises ImportError, which pyqtgraph expects
    where it is missing), then puts it back: code that imports cuda.bindings later gets it as usual."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        hide = "cuda.bindings" not in sys.modules
        if hide:
            sys.modules["cuda.bindings"] = None  # type: ignore[assignment]
        try:
            self.loader.exec_module(module)
        finally:
            if hide and "cuda.bindings" in sys.modules and sys.modules["cuda.bindings"] is None:
                del sys.modules["cuda.bindings"]


class _PyqtgraphWithoutCuda(importlib.abc.MetaPathFinder):
    """Finds RawImageWidget as the path finder does, but loads it with cuda.bindings hidden (whenever and
    by whichever import pyqtgraph is first imported in this process)."""

    def find_spec(self, name, path, target=None):
        if name != RAW_IMAGE_WIDGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _CudaHidden(spec.loader)
        return spec


if not any(isinstance(f, _PyqtgraphWithoutCuda) for f in sys.meta_path):
    sys.meta_path.insert(0, _PyqtgraphWithoutCuda())
