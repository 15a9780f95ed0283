"""Checkpoints: atomic save (temp file + os.replace) and safe load (weights_only=True)."""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from .rundir import is_complete, write_atomic  # noqa: F401  (is_complete: part of this module's API)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written or is not a safe workbench checkpoint."""


def save_checkpoint(state: dict[str, Any], path: Path) -> Path:
    """Write `state` so that `path` is either the old file or the complete new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Temp file created exclusively (never through a planted symlink), fsynced, then renamed.
        write_atomic(path, write=lambda fh: torch.save(state, fh))
    except OSError as exc:
        raise CheckpointError(f"could not write checkpoint {path}: {exc.strerror or exc}") from exc
    return path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with weights_only=True: tensors and plain containers, never code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise CheckpointError(
                f"{path} was refused: it holds Python objects, not just weights "
                f"(loading it could run code). Only workbench checkpoints are accepted.") from exc
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or not a checkpoint)") from exc
    except Exception as exc:  # torch.load on garbage raises many kinds (KeyError, IndexError, …)
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not a workbench checkpoint (no model weights in it)")
    return state
