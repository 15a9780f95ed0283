"""Checkpoints: atomic save (temp file + os.replace) and safe load (weights_only=True)."""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .oserrors import os_reason
from .rundir import is_complete, write_atomic  # noqa: F401  (is_complete: part of this module's API)

if TYPE_CHECKING:  # imported where checkpoints are written or read: `ssl-workbench --help` needs no torch
    import torch


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written or is not a safe workbench checkpoint."""


class _KeepsWriteErrors:
    """A file for torch.save that remembers the OS error of a failed write.

    torch.save reports a failed write (a full disk) only as "enforce fail at
    inline_container.cc"; the OSError kept here says which file and why.
    """

    def __init__(self, fh):
        self._fh = fh
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self._fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self._fh.flush()


def _save_keeping_errors(state: dict[str, Any]):
    """A write(fh) for write_atomic: torch.save whose failed write raises the OSError it hit."""
    def write(fh) -> None:
        writer = _KeepsWriteErrors(fh)
        try:
            import torch

            torch.save(state, writer)
        except RuntimeError as exc:
            if writer.error is None:
                raise
            raise writer.error from exc
    return write


def save_checkpoint(state: dict[str, Any], path: Path) -> Path:
    """Write `state` so that `path` is either the old file or the complete new one, never half."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Temp file created exclusively (never through a planted symlink), fsynced, then renamed.
        write_atomic(path, write=_save_keeping_errors(state))
    except OSError as exc:
        raise CheckpointError(f"could not write checkpoint {path}: {os_reason(exc)}") from exc
    return path


ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since 1.6
PICKLE_PROTOCOLS = tuple(bytes([0x80, p]) for p in range(2, 6))  # a pickle stream's first bytes


def _load_error(path: Path, exc: Exception) -> CheckpointError:
    """Say what the file is: a pickle with code in it, a damaged checkpoint, or not one at all.
    torch raises UnpicklingError for forbidden globals and for random bytes alike, so the
    message and the file's first bytes tell them apart."""
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) and ("not an allowed global" in text
                                                    or "Unsupported global" in text):
        return CheckpointError(
            f"{path} was refused: it holds Python objects, not just weights "
            f"(loading it could run code). Only workbench checkpoints are accepted.")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        head = b""
    if head.startswith(PICKLE_PROTOCOLS):  # a plain pickle the weights-only reader cannot parse
        return CheckpointError(
            f"{path} was refused: it is a Python pickle, not a workbench checkpoint "
            f"(loading it could run code). Only workbench checkpoints are accepted.")
    if not head:
        return CheckpointError(f"{path} is empty: not a checkpoint")
    if head != ZIP_MAGIC:
        return CheckpointError(f"{path} is not a checkpoint (not a file written by torch.save)")
    detail = text.strip().split(". ")[0] if text.strip() else type(exc).__name__
    return CheckpointError(f"{path} is not a readable checkpoint (damaged or cut short: {detail})")


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with weights_only=True: tensors and plain containers, never code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with warnings.catch_warnings():  # torch's note on a pickle's protocol is noise here
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            import torch

            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch.load on garbage raises many kinds (KeyError, IndexError, …)
        raise _load_error(path, exc) from exc
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not a workbench checkpoint (no model weights in it)")
    return state
