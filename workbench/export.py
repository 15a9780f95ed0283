"""HDF5 export of embeddings, labels and projections (format_version 1; schema in docs/HDF5.md)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from workbench.embeddings import PROJECTIONS, Cancelled

FORMAT_VERSION = 1
REQUIRED_DATASETS = ("embeddings", "labels", "indices")
# Root attributes every export carries; these defaults mean "unknown" (h5py cannot store None).
DEFAULT_ATTRS: dict[str, Any] = {
    "method": "",
    "dataset": "",
    "split": "",
    "config": {},
    "checkpoint": "",
    "checkpoint_sha256": "",
    "step": -1,
    "epoch": -1,
    "seed": -1,
}
# Aim for ~1 MB chunks: small enough to read a few rows cheaply, large enough to compress well.
_CHUNK_BYTES = 2**20
# Rows written between progress reports / cancel checks.
_WRITE_BLOCK_BYTES = 16 * 2**20
# Per-dataset chunk cache while writing: a chunk that a block of rows fills only in part stays
# in memory until the next block completes it, instead of being compressed, read back and
# recompressed (h5py's default 1 MB cache cannot hold one 1 MB chunk plus its neighbour).
_WRITE_CACHE_BYTES = 8 * _CHUNK_BYTES
_GZIP = dict(compression="gzip", compression_opts=4)

__all__ = ["FORMAT_VERSION", "Export", "ExportError", "ExportWriter", "Cancelled", "sha256_file",
           "write_export", "read_export"]


class ExportError(ValueError):
    """Clear, one-line message for files that are not (valid) workbench exports or can't be written."""


@dataclass
class Export:
    """The contents of one export file; embeddings is None when read with load=False."""

    embeddings: np.ndarray | None
    labels: np.ndarray
    indices: np.ndarray
    projections: dict[str, np.ndarray] = field(default_factory=dict)
    factors: dict[str, np.ndarray] = field(default_factory=dict)
    factor_values: dict[str, list[str]] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)  # config parsed back to a dict
    embedding_shape: tuple[int, int] = (0, 0)
    words: list[str] = field(default_factory=list)  # text runs: the word of each row, else empty


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _workbench_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ssl-workbench")
    except PackageNotFoundError:
        return "0+unknown"


def _os_reason(err: OSError) -> str:
    # h5py folds the OS reason into a long message; pull out the part a person needs.
    match = re.search(r"error message = '([^']*)'", str(err))
    if match:
        return match.group(1)
    return err.strerror or str(err) or type(err).__name__


def _attr_value(key: str, value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None:
        return ""
    if isinstance(value, (str, bool, int, float)):
        return value
    raise ExportError(f"attribute {key!r} has type {type(value).__name__}; use str, int, float or a dict")


def _check_embeddings(embeddings: Any) -> np.ndarray:
    emb = np.asarray(embeddings)
    if emb.ndim != 2 or emb.shape[0] == 0 or emb.shape[1] == 0:
        raise ExportError(f"embeddings must be a non-empty (N, D) array, got shape {emb.shape}")
    return emb.astype(np.float32, copy=False)


def _prepare_columns(n, labels, indices, projections, factors, factor_values):
    """Check and convert everything but the embeddings for an export of n rows."""

    def column(name: str, values: Any) -> np.ndarray:
        arr = np.asarray(values)
        if arr.shape != (n,):
            raise ExportError(f"{name} must have shape ({n},) to match embeddings, got {arr.shape}")
        if arr.dtype.kind not in "iub":
            raise ExportError(f"{name} must be integers, got dtype {arr.dtype}")
        return arr.astype(np.int64, copy=False)

    labels = np.full(n, -1, dtype=np.int64) if labels is None else column("labels", labels)
    indices = np.arange(n, dtype=np.int64) if indices is None else column("indices", indices)
    projs = {}
    for name, proj in (projections or {}).items():
        if name not in PROJECTIONS:
            raise ExportError(f"unknown projection {name!r}; allowed: {', '.join(PROJECTIONS)}")
        proj = np.asarray(proj)
        if proj.shape != (n, 2):
            raise ExportError(f"projection {name!r} must have shape ({n}, 2), got {proj.shape}")
        projs[name] = proj.astype(np.float32, copy=False)
    facs, names = {}, {}
    for name, codes in (factors or {}).items():
        if not name or "/" in name:
            raise ExportError(f"factor name {name!r} must be non-empty and contain no '/'")
        facs[name] = column(f"factor {name!r}", codes)
        given = (factor_values or {}).get(name)
        if given is None:  # without names, the codes themselves are the names
            given = range(int(facs[name].max(initial=-1)) + 1)
        names[name] = [str(v) for v in given]
    return labels, indices, projs, facs, names


def _root_attrs(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    root = {**DEFAULT_ATTRS, **(attrs or {})}
    return {key: _attr_value(key, value) for key, value in root.items()}


def _check_target(path: Path) -> None:
    if not path.parent.exists():
        raise ExportError(f"cannot write {path}: directory {path.parent} does not exist")
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: {path.parent} is not a directory")


class ExportWriter:
    """Write one export in pieces: embedding rows as they are computed, then everything else.

    Memory stays at one block of rows whatever N is. Use it as a context manager::

        with ExportWriter(path, rows=n) as w:
            for block in blocks:        # (m, D) arrays, in row order
                w.add_rows(block)
            w.finish(labels, indices, projections, factors, factor_values, attrs)

    Everything goes to a hidden temporary file beside path; finish() makes it durable and
    moves it into place with os.replace. Leaving the block without finish() (an exception,
    Cancelled, a break) deletes the temporary file, so path is never half-written and any
    previous file there survives. OS errors become ExportError.
    """

    def __init__(self, path: str | os.PathLike, rows: int):
        self.path = Path(path)
        self.rows = int(rows)
        if self.rows < 1:
            raise ExportError(f"an export needs at least one row, got {rows}")
        _check_target(self.path)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self._row = 0
        self._dset: h5py.Dataset | None = None
        self._done = False
        try:
            self._file: h5py.File | None = h5py.File(self._tmp, "w", rdcc_nbytes=_WRITE_CACHE_BYTES, rdcc_w0=1.0)
        except OSError as err:
            self._discard()
            raise ExportError(f"cannot write {self.path}: {_os_reason(err)}") from err

    def __enter__(self) -> "ExportWriter":
        return self

    def __exit__(self, *exc) -> None:
        if not self._done:
            self.abort()

    @property
    def rows_written(self) -> int:
        return self._row

    def add_rows(self, block: np.ndarray) -> None:
        """Append (m, D) embedding rows; D is fixed by the first block."""
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[1] == 0:
            raise ExportError(f"embedding rows must be a (m, D) array with D > 0, got shape {block.shape}")
        if self._file is None:
            raise ExportError("this export was already finished or abandoned")
        m, d = block.shape
        if self._row + m > self.rows:
            raise ExportError(f"{self._row + m} embedding rows given for an export of {self.rows}")
        with self._os_errors():
            if self._dset is None:
                chunk_rows = max(1, min(self.rows, _CHUNK_BYTES // (4 * d)))
                # shuffle groups the bytes of the floats, which gzip then compresses noticeably better
                self._dset = self._file.create_dataset(
                    "embeddings", shape=(self.rows, d), dtype=np.float32, chunks=(chunk_rows, d),
                    shuffle=True, **_GZIP)
            elif d != self._dset.shape[1]:
                raise ExportError(f"embedding rows have {d} columns; earlier rows had {self._dset.shape[1]}")
            self._dset[self._row : self._row + m] = block.astype(np.float32, copy=False)
        self._row += m

    def finish(self, labels=None, indices=None, projections=None, factors=None, factor_values=None,
               attrs: Mapping[str, Any] | None = None, words: list[str] | None = None) -> Path:
        """Write labels, indices, projections, factors and attributes, then move the file into place.

        labels None means unlabelled (-1); indices None means 0..N-1; words (text runs) is the
        word of each row, written as /words.
        """
        if words is not None and len(words) != self.rows:
            raise ExportError(f"words must have {self.rows} entries to match embeddings, got {len(words)}")
        if self._file is None:
            raise ExportError("this export was already finished or abandoned")
        if self._row != self.rows:
            raise ExportError(f"only {self._row} of {self.rows} embedding rows were written")
        labels, indices, projs, facs, names = _prepare_columns(
            self.rows, labels, indices, projections, factors, factor_values)
        root = _root_attrs(attrs)
        root.update(
            format_version=FORMAT_VERSION,
            created=datetime.now(timezone.utc).isoformat(),
            workbench_version=_workbench_version(),
        )
        with self._os_errors():
            f = self._file
            f.attrs.update(root)
            f.create_dataset("labels", data=labels, **_GZIP)
            f.create_dataset("indices", data=indices, **_GZIP)
            group = f.create_group("projections")
            for name, proj in projs.items():
                group.create_dataset(name, data=proj, **_GZIP)
            if facs:
                group = f.create_group("factors")
                for name, codes in facs.items():
                    ds = group.create_dataset(name, data=codes, **_GZIP)
                    ds.attrs["values"] = json.dumps(names[name])
            if words is not None:
                f.create_dataset("words", data=[str(w) for w in words], dtype=h5py.string_dtype(), **_GZIP)
            self._file = None
            f.close()
            # make the bytes durable before the rename makes them visible
            with open(self._tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(self._tmp, self.path)
        self._done = True
        return self.path

    def abort(self) -> None:
        """Drop what was written; the target path is left as it was. Safe to call twice."""
        self._done = True
        self._discard()

    def _discard(self) -> None:
        # best effort: whatever error brought us here is the one worth reporting
        if getattr(self, "_file", None) is not None:
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)

    @contextlib.contextmanager
    def _os_errors(self):
        try:
            yield
        except OSError as err:
            self.abort()
            raise ExportError(f"cannot write {self.path}: {_os_reason(err)}") from err


def write_export(
    path: str | os.PathLike,
    embeddings: np.ndarray,
    labels: np.ndarray | None,
    indices: np.ndarray | None,
    projections: Mapping[str, np.ndarray] | None = None,
    factors: Mapping[str, np.ndarray] | None = None,
    factor_values: Mapping[str, list[str]] | None = None,
    attrs: Mapping[str, Any] | None = None,
    progress: Callable[[float], Any] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Path:
    """Write an export to path atomically and return the path.

    Every input is checked before anything is written. The file is written beside path under
    a hidden temporary name and moved into place with os.replace (see ExportWriter), so a
    cancelled or failed write (Cancelled, a full disk, ...) leaves any previous file at path
    intact and no temporary file behind. OS errors become ExportError. labels None means
    unlabelled (-1); indices None means 0..N-1. progress(fraction) is called and cancel()
    checked as blocks of embedding rows are written.
    """
    path = Path(path)
    emb = _check_embeddings(embeddings)
    n, d = emb.shape
    columns = _prepare_columns(n, labels, indices, projections, factors, factor_values)
    _root_attrs(attrs)  # a bad attribute is refused now, not after the rows are written
    labels, indices, projs, facs, names = columns
    block_rows = max(1, _WRITE_BLOCK_BYTES // (4 * d))
    with ExportWriter(path, n) as writer:
        try:
            for start in range(0, n, block_rows):
                if cancel is not None and cancel():
                    raise Cancelled()
                stop = min(start + block_rows, n)
                writer.add_rows(emb[start:stop])
                if progress is not None:
                    progress(stop / n)
        except OSError as err:  # e.g. from a progress callback; the writer's own are ExportError
            raise ExportError(f"cannot write {path}: {_os_reason(err)}") from err
        return writer.finish(labels, indices, projs, facs, names, attrs)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_export(path: str | os.PathLike, load: bool = True) -> Export:
    """Read and check an export; with load=False the (large) embeddings matrix is left on disk.

    Raises ExportError when the file is missing, is not HDF5, is not an SSL Workbench export,
    has a newer format_version than this build reads, or lacks a required dataset.
    """
    path = Path(path)
    if not path.exists():
        raise ExportError(f"{path}: no such file")
    if path.is_dir():
        raise ExportError(f"{path} is a directory, not an export file")
    if not h5py.is_hdf5(path):
        raise ExportError(f"{path} is not an HDF5 file, so not an SSL Workbench export")
    try:
        with h5py.File(path, "r") as f:
            return _read(path, f, load)
    except OSError as err:
        raise ExportError(f"cannot read {path}: {_os_reason(err)}") from err


def _read(path: Path, f: h5py.File, load: bool) -> Export:
    if "format_version" not in f.attrs:
        raise ExportError(f"{path} is an HDF5 file but not an SSL Workbench export (no format_version attribute)")
    version = _plain(f.attrs["format_version"])
    if not isinstance(version, int) or version < 1:
        raise ExportError(f"{path} has an invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ExportError(
            f"{path} has format_version {version} from a newer SSL Workbench; "
            f"this build reads format_version {FORMAT_VERSION} (upgrade ssl-workbench)"
        )
    missing = [f"/{name}" for name in REQUIRED_DATASETS if not isinstance(f.get(name), h5py.Dataset)]
    if missing:
        raise ExportError(f"{path} is missing required dataset(s) {', '.join(missing)}")

    shape = f["embeddings"].shape
    if len(shape) != 2:
        raise ExportError(f"{path}: /embeddings must be 2-D, got shape {shape}")
    n = shape[0]

    def column(name: str, ds: h5py.Dataset) -> np.ndarray:
        if ds.shape != (n,):
            raise ExportError(f"{path}: {name} has shape {ds.shape}, expected ({n},)")
        return ds[()].astype(np.int64, copy=False)

    attrs = {key: _plain(value) for key, value in f.attrs.items()}
    if isinstance(attrs.get("config"), str):
        try:
            attrs["config"] = json.loads(attrs["config"]) if attrs["config"] else {}
        except json.JSONDecodeError as err:
            raise ExportError(f"{path}: the config attribute is not valid JSON ({err.msg})") from err

    projections = {}
    for name, ds in f.get("projections", {}).items():
        if ds.shape != (n, 2):
            raise ExportError(f"{path}: /projections/{name} has shape {ds.shape}, expected ({n}, 2)")
        projections[name] = ds[()].astype(np.float32, copy=False)
    factors, factor_values = {}, {}
    for name, ds in f.get("factors", {}).items():
        factors[name] = column(f"/factors/{name}", ds)
        try:
            factor_values[name] = [str(v) for v in json.loads(_plain(ds.attrs.get("values", "[]")))]
        except (json.JSONDecodeError, TypeError) as err:
            raise ExportError(f"{path}: /factors/{name} has an invalid 'values' attribute") from err
    return Export(
        embeddings=f["embeddings"][()].astype(np.float32, copy=False) if load else None,
        labels=column("/labels", f["labels"]),
        indices=column("/indices", f["indices"]),
        projections=projections,
        factors=factors,
        factor_values=factor_values,
        attrs=attrs,
        embedding_shape=(int(shape[0]), int(shape[1])),
        words=list(f["words"].asstr()[()]) if isinstance(f.get("words"), h5py.Dataset) else [],
    )
