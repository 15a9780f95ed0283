"""The desktop app: PySide6 widgets and pyqtgraph plots over the workbench package."""
from __future__ import annotations

import sys


def _import_pyqtgraph_without_cuda() -> None:
    """Import pyqtgraph with cuda.bindings hidden, then put it back.

    pyqtgraph's RawImageWidget (unused here) imports cuda.bindings.runtime whenever cuda-python is installed
    (torch's CUDA wheels bring it): 0.1–0.3 s of CPU at every start, for a GPU path of a widget the app
    never shows. An ImportError is what pyqtgraph expects where it is missing; code that imports cuda.bindings
    later gets it as usual. PySide6 first, so that pyqtgraph picks it whatever other Qt bindings are installed.
    """
    if "pyqtgraph" in sys.modules or "cuda.bindings" in sys.modules:
        return
    import PySide6.QtCore  # noqa: F401

    sys.modules["cuda.bindings"] = None  # type: ignore[assignment]  # `import cuda.bindings` raises ImportError
    try:
        import pyqtgraph  # noqa: F401
    finally:
        if "cuda.bindings" in sys.modules and sys.modules["cuda.bindings"] is None:
            del sys.modules["cuda.bindings"]


_import_pyqtgraph_without_cuda()
