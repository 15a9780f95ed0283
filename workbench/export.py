"""HDF5 export of embeddings, labels and projections (format_version 1; schema in docs/HDF5.md)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from workbench import __version__
from workbench.embeddings import PROJECTIONS, Cancelled
from workbench.events import EVENTS_FILE
from workbench.oserrors import os_reason
from workbench.runs import CHECKPOINTS, CONFIG_FILE, EMBEDDINGS, PREVIEWS

FORMAT_VERSION = 1
REQUIRED_DATASETS = ("embeddings", "labels", "indices")
# Which rows an export holds (the `split` attribute).
SPLITS = ("test", "train", "all")
# /split: code i means SPLIT_CODES[i] (its attribute `values` says so in the file).
SPLIT_CODES = ("train", "test")
# Names an export may take inside a run folder (docs/HDF5.md, "Where an export may be written").
EXPORT_SUFFIXES = (".h5", ".hdf5")
# A run folder's own sub-folders: an export never writes into them.
_RUN_OWN_FOLDERS = (CHECKPOINTS, PREVIEWS, EMBEDDINGS)
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
# Uncompressed, a chunk written in part is completed in place, so no cache: each block goes from
# the array to the file without a copy through the cache (120k × 128 rows: ~30 against ~36 ms of CPU).
# Compression by name. Embedding floats barely compress (-15 % with gzip 4 + shuffle) at ~80×
# the CPU of writing them plain (docs/BENCHMARKS.md), so an export is uncompressed unless asked:
# "lzf" is the fastest filter, "gzip-9" the smallest file (archives). shuffle groups the bytes
# of each value, which every filter then compresses better.
COMPRESSIONS: dict[str, dict[str, Any]] = {
    "none": {},
    "lzf": dict(compression="lzf", shuffle=True),
    "gzip": dict(compression="gzip", compression_opts=4, shuffle=True),
    "gzip-9": dict(compression="gzip", compression_opts=9, shuffle=True),
}
DEFAULT_COMPRESSION = "none"

__all__ = ["COMPRESSIONS", "DEFAULT_COMPRESSION", "FORMAT_VERSION", "SPLITS", "SPLIT_CODES", "Export", "ExportError", "DestinationRefused",
           "DestinationExists", "ExportWriter", "Cancelled", "sha256_file", "check_destination",
           "is_workbench_export", "temp_files", "write_export", "read_export"]


class ExportError(ValueError):
    """Clear, one-line message for files that are not (valid) workbench exports or can't be written."""


class DestinationRefused(ExportError):
    """A destination an export never writes, whatever --force says (a run's own file, a link, a device)."""


class DestinationExists(ExportError):
    """An existing file that is not an SSL Workbench export: replaced only when asked to (--force)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        super().__init__(f"{path} already exists and is not an SSL Workbench export; "
                         f"add --force to replace it")


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
    # Split code of each row (SPLIT_CODES: 0 train, 1 test); None for an older `all` file without /split
    split: np.ndarray | None = None


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _os_reason(err: BaseException) -> str:
    # h5py folds the OS reason into a long message; pull out the part a person needs.
    if getattr(err, "errno", None) is None:
        match = re.search(r"error message = '([^']*)'", str(err))
        if match:
            return match.group(1)
    return os_reason(err)


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


def _not_a_regular_file(path: Path, mode: int) -> str:
    """Why an existing non-regular path cannot be an export's destination ('' for a regular file)."""
    if stat.S_ISREG(mode):
        return ""
    if stat.S_ISLNK(mode):
        return (f"{path} is a symbolic link; an export never writes through a link or replaces it "
                f"(give the path of a real file)")
    if stat.S_ISDIR(mode):
        return f"{path} is a folder; give a file name such as {path / 'embeddings.h5'}"
    what = ("a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
            "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    return f"{path} is {what}; an export writes only regular files"


def _enclosing_run_folder(folder: Path) -> Path | None:
    """The run folder that `folder` is, or lies inside, as a real path; None outside every run."""
    here = Path(os.path.realpath(folder))
    for candidate in (here, *here.parents):
        try:
            if (candidate / CONFIG_FILE).is_file() and (
                    (candidate / CHECKPOINTS).is_dir() or (candidate / EVENTS_FILE).is_file()):
                return candidate
        except OSError:  # an unreadable folder on the way up is not a run we can recognise
            continue
    return None


def is_workbench_export(path: str | os.PathLike) -> bool:
    """True when path is a regular HDF5 file carrying our signature (format_version, workbench_version)."""
    path = Path(path)
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode) or not h5py.is_hdf5(path):
            return False
        with h5py.File(path, "r") as f:
            version = _plain(f.attrs.get("format_version"))
            return (isinstance(version, int) and not isinstance(version, bool) and version >= 1
                    and isinstance(_plain(f.attrs.get("workbench_version")), str))
    except Exception:  # unreadable, locked or malformed: not something we may replace unasked
        return False


def check_destination(path: str | os.PathLike, force: bool = False) -> Path:
    """Check that an export may be written to path; return it, or raise why not.

    The rule (docs/HDF5.md, "Where an export may be written"):

    * The destination is a new file or an existing regular file. A symbolic link (even to a
      regular file), a folder, a device, a FIFO or a socket is refused (DestinationRefused).
    * Inside a run folder (a folder holding config.json with checkpoints/ or events.jsonl, and
      every folder below it) an export writes only a file named *.h5 or *.hdf5, never into the
      run's own checkpoints/, previews/ or embeddings/ folders, and replaces only an earlier
      SSL Workbench export there. force does not lift any of this (DestinationRefused).
    * Elsewhere, an existing file that is not an SSL Workbench export is replaced only with
      force=True (DestinationExists otherwise; the CLI's --force, the GUI asks). An earlier
      export of ours is replaced without asking.

    ExportWriter checks again just before it moves the finished file into place.
    """
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise DestinationRefused(f"{path} names no file; give a file name such as embeddings.h5")
    _check_target(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise DestinationRefused(f"cannot check {path}: {os_reason(err)}") from err
    if mode is not None and (why := _not_a_regular_file(path, mode)):
        raise DestinationRefused(why)
    ours = mode is not None and is_workbench_export(path)
    run = _enclosing_run_folder(path.parent)
    if run is not None:
        inside = Path(os.path.realpath(path.parent)).relative_to(run).parts
        if inside and inside[0] in _RUN_OWN_FOLDERS:
            raise DestinationRefused(
                f"{path} is inside the {inside[0]}/ folder of run {run}, which only the run writes; "
                f"export beside it instead, e.g. {run / 'embeddings.h5'}")
        if path.suffix.lower() not in EXPORT_SUFFIXES:
            raise DestinationRefused(
                f"{path} is inside run folder {run}, where an export writes only files named *.h5 "
                f"or *.hdf5 (so the run's own files are never replaced); choose such a name")
        if mode is not None and not ours:
            raise DestinationRefused(
                f"{path} is inside run folder {run} and is not an SSL Workbench export, so it is "
                f"never replaced (not even with --force); choose another name")
    elif mode is not None and not ours and not force:
        raise DestinationExists(path)
    return path


def temp_files(path: str | os.PathLike, pid: int) -> list[Path]:
    """The temporary files an export to path by process pid may have left (regular files only)."""
    path = Path(path)
    base = f".{path.name}.tmp-{pid}"
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            if (entry.name == base or entry.name.startswith(base + "-")) and entry.is_file(follow_symlinks=False):
                found.append(Path(entry.path))
    return found


class _WriteErrorHoldingFile:
    """The file object h5py's 'fileobj' driver writes an export through.

    A failed write (a full disk, a lost permission) is remembered, and from then on writes are
    dropped, but the HDF5 library is always told it succeeded: HDF5 crashes (segfault) when it
    closes a file after a failed write, taking the process (before: the whole GUI) with it.
    The same holds for an exception raised here by a signal handler (a second Ctrl-C).
    ExportWriter checks `error` after each step, stops, and deletes the file.
    """

    def __init__(self, fd: int):
        self._fd = fd
        self._pos = 0
        self.error: BaseException | None = None

    def _hold(self, err: BaseException) -> None:
        if self.error is None:
            self.error = err

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        try:
            if whence == os.SEEK_END:
                offset += os.fstat(self._fd).st_size
            elif whence == os.SEEK_CUR:
                offset += self._pos
        except BaseException as err:  # noqa: B036 - nothing may reach the HDF5 library
            self._hold(err)
        self._pos = offset
        return offset

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = max(0, os.fstat(self._fd).st_size - self._pos)
        buf = bytearray(size)
        n = self.readinto(buf)
        return bytes(buf[:n])

    def readinto(self, buf) -> int:
        view = memoryview(buf).cast("B")
        done = 0
        try:
            while done < len(view):
                n = os.preadv(self._fd, [view[done:]], self._pos + done)
                if n == 0:
                    break
                done += n
        except BaseException as err:  # noqa: B036
            self._hold(err)
        view[done:] = bytes(len(view) - done)  # past the end (or after a dropped write): zeros
        self._pos += len(view)
        return len(view)

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        if self.error is None:
            try:
                done = 0
                while done < len(view):  # pwrite may write less than asked
                    done += os.pwrite(self._fd, view[done:], self._pos + done)
            except BaseException as err:  # noqa: B036
                self._hold(err)
        self._pos += len(view)
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        if self.error is None:
            try:
                os.ftruncate(self._fd, size)
            except BaseException as err:  # noqa: B036
                self._hold(err)
        return size

    def flush(self) -> None:
        pass  # writes go straight to the descriptor; finish() fsyncs it


class ExportWriter:
    """Write one export in pieces: embedding rows as they are computed, then everything else.

    Memory stays at one block of rows whatever N is. Use it as a context manager::

        with ExportWriter(path, rows=n) as w:
            for block in blocks:        # (m, D) arrays, in row order
                w.add_rows(block)
            w.finish(labels, indices, projections, factors, factor_values, attrs)

    The destination is checked first (check_destination; force as there). Everything goes to
    a hidden temporary file beside path, created exclusively (O_EXCL, never through a link
    planted under its name); finish() makes it durable and moves it into place with
    os.replace. Leaving the block without finish() (an exception, Cancelled, a break) deletes
    the temporary file, so path is never half-written and any previous file there survives.
    OS errors (a full disk, no permission, a read-only file system) become ExportError naming
    the file and the reason, and never reach the HDF5 library (see _WriteErrorHoldingFile).
    """

    def __init__(self, path: str | os.PathLike, rows: int, force: bool = False,
                 compression: str = DEFAULT_COMPRESSION):
        self.path = Path(path)
        self.rows = int(rows)
        self.force = force
        if self.rows < 1:
            raise ExportError(f"an export needs at least one row, got {rows}")
        self._filters = _compression(compression)
        check_destination(self.path, force)
        self._row = 0
        self._dset: h5py.Dataset | None = None
        self._done = False
        self._file: h5py.File | None = None
        self._fd: int | None = None
        self._tmp = self._create_temp()
        self._io = _WriteErrorHoldingFile(self._fd)
        with self._os_errors():
            self._file = h5py.File(self._io, "w", rdcc_nbytes=_WRITE_CACHE_BYTES if self._filters else 0,
                                   rdcc_w0=1.0)
            self._check_io()

    def _create_temp(self) -> Path:
        flags = (os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
        base = f".{self.path.name}.tmp-{os.getpid()}"
        for n in range(100):
            tmp = self.path.with_name(base if n == 0 else f"{base}-{n}")
            try:
                self._fd = os.open(tmp, flags, 0o666)
                return tmp
            except FileExistsError:  # left by a crash, or planted: never opened, never followed
                continue
            except OSError as err:
                raise ExportError(f"cannot write {self.path}: {_os_reason(err)}") from err
        raise ExportError(f"cannot write {self.path}: {self.path.parent} holds 100 leftover "
                          f"temporary files named {base}*; delete them")

    def __enter__(self) -> "ExportWriter":
        return self

    def __exit__(self, *exc) -> None:
        if not self._done:
            self.abort()

    @property
    def rows_written(self) -> int:
        return self._row

    @property
    def temp_path(self) -> Path:
        """The hidden file being written (gone after finish() or abort())."""
        return self._tmp

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
                self._dset = self._file.create_dataset(
                    "embeddings", shape=(self.rows, d), dtype=np.float32, chunks=(chunk_rows, d),
                    **self._filters)
            elif d != self._dset.shape[1]:
                raise ExportError(f"embedding rows have {d} columns; earlier rows had {self._dset.shape[1]}")
            self._dset[self._row : self._row + m] = block.astype(np.float32, copy=False)
            self._check_io()
        self._row += m

    def finish(self, labels=None, indices=None, projections=None, factors=None, factor_values=None,
               attrs: Mapping[str, Any] | None = None, words: list[str] | None = None,
               split: Any = None) -> Path:
        """Write labels, indices, projections, factors and attributes, then move the file into place.

        labels None means unlabelled (-1); indices None means 0..N-1; words (text runs) is the
        word of each row, written as /words; split is each row's split code (SPLIT_CODES,
        0 train, 1 test), written as /split (None writes none).
        """
        if words is not None and len(words) != self.rows:
            raise ExportError(f"words must have {self.rows} entries to match embeddings, got {len(words)}")
        if self._file is None:
            raise ExportError("this export was already finished or abandoned")
        if self._row != self.rows:
            raise ExportError(f"only {self._row} of {self.rows} embedding rows were written")
        labels, indices, projs, facs, names = _prepare_columns(
            self.rows, labels, indices, projections, factors, factor_values)
        split = _split_column(self.rows, split)
        root = _root_attrs(attrs)
        root.update(
            format_version=FORMAT_VERSION,
            created=datetime.now(timezone.utc).isoformat(),
            workbench_version=__version__,  # not importlib.metadata: its first lookup cost ~20 ms of CPU
        )
        small = self._filters
        with self._os_errors():
            f = self._file
            f.attrs.update(root)
            f.create_dataset("labels", data=labels, **small)
            f.create_dataset("indices", data=indices, **small)
            if split is not None:
                ds = f.create_dataset("split", data=split, **small)
                ds.attrs["values"] = json.dumps(list(SPLIT_CODES))
            group = f.create_group("projections")
            for name, proj in projs.items():
                group.create_dataset(name, data=proj, **small)
            if facs:
                group = f.create_group("factors")
                for name, codes in facs.items():
                    ds = group.create_dataset(name, data=codes, **small)
                    ds.attrs["values"] = json.dumps(names[name])
            if words is not None:
                f.create_dataset("words", data=[str(w) for w in words], dtype=h5py.string_dtype(), **small)
            self._dset = None
            self._file = None
            f.close()
            self._check_io()
            # make the bytes durable before the rename makes them visible
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            # a long export gives time for the destination to change (a link put there)
            check_destination(self.path, self.force)
            os.replace(self._tmp, self.path)
            _fsync_folder(self.path.parent)
        self._done = True
        return self.path

    def abort(self) -> None:
        """Drop what was written; the target path is left as it was. Safe to call twice."""
        self._done = True
        self._discard()

    def _discard(self) -> None:
        # best effort: whatever error brought us here is the one worth reporting
        self._dset = None
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)

    def _check_io(self) -> None:
        if self._io.error is not None:
            raise self._io.error

    @contextlib.contextmanager
    def _os_errors(self):
        """Any failure here abandons the file; an OS error becomes one ExportError line."""
        try:
            yield
        except ExportError:
            self.abort()
            raise
        except BaseException as err:  # Ctrl-C included: the temporary file goes either way
            self.abort()
            # what the file object held back explains whatever HDF5 made of it
            cause = self._io.error if getattr(self, "_io", None) is not None and self._io.error else err
            if isinstance(cause, OSError):
                raise ExportError(f"cannot write {self.path}: {_os_reason(cause)}") from err
            if cause is not err:
                raise cause from err
            raise


def _compression(name: str) -> dict[str, Any]:
    if name not in COMPRESSIONS:
        raise ExportError(f"unknown compression {name!r}; choose one of {', '.join(COMPRESSIONS)}")
    return COMPRESSIONS[name]


def _fsync_folder(folder: Path) -> None:
    # the rename itself is durable only once the folder's entry is on disk (POSIX; no-op elsewhere)
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _split_column(n: int, split: Any) -> np.ndarray | None:
    if split is None:
        return None
    codes = np.asarray(split)
    if codes.shape != (n,):
        raise ExportError(f"split must have shape ({n},) to match embeddings, got {codes.shape}")
    if codes.dtype.kind not in "iub" or ((codes < 0) | (codes >= len(SPLIT_CODES))).any():
        raise ExportError(f"split must hold codes 0..{len(SPLIT_CODES) - 1} ({', '.join(SPLIT_CODES)})")
    return codes.astype(np.uint8)


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
    split: Any = None,
    force: bool = False,
    compression: str = DEFAULT_COMPRESSION,
) -> Path:
    """Write an export to path atomically and return the path.

    Every input is checked before anything is written, and the destination as
    check_destination says (force replaces a file that is not an export of ours). The file is
    written beside path under a hidden temporary name and moved into place with os.replace
    (see ExportWriter), so a cancelled or failed write (Cancelled, a full disk, ...) leaves
    any previous file at path intact and no temporary file behind. OS errors become
    ExportError. labels None means unlabelled (-1); indices None means 0..N-1; split (codes of
    SPLIT_CODES) None writes no /split. progress(fraction) is called and cancel() checked as
    blocks of embedding rows are written. compression names one of COMPRESSIONS.
    """
    path = Path(path)
    _compression(compression)
    emb = _check_embeddings(embeddings)
    n, d = emb.shape
    columns = _prepare_columns(n, labels, indices, projections, factors, factor_values)
    _split_column(n, split)  # bad input is refused now, not after the rows are written
    _root_attrs(attrs)
    labels, indices, projs, facs, names = columns
    block_rows = max(1, _WRITE_BLOCK_BYTES // (4 * d))
    with ExportWriter(path, n, force=force, compression=compression) as writer:
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
        return writer.finish(labels, indices, projs, facs, names, attrs, split=split)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_export(path: str | os.PathLike, load: bool = True) -> Export:
    """Read and check an export; with load=False the (large) embeddings matrix is left on disk.

    Raises ExportError with one line when the file is missing, is not HDF5, is not an SSL
    Workbench export, has a newer format_version than this build reads, lacks a required
    dataset or root attribute, or holds something other than the layout of docs/HDF5.md (a
    dataset where a group belongs or the reverse, a wrong dtype or shape). Links to other
    objects or files (soft and external links) and datasets that keep their data in other
    files (virtual, external storage) are refused, never followed.
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
    except ExportError:
        raise
    except OSError as err:
        raise ExportError(f"cannot read {path}: {_os_reason(err)}") from err
    except Exception as err:  # anything else h5py trips on means the file is not what it should be
        raise ExportError(f"{path} is not a readable SSL Workbench export ({type(err).__name__}: {err})") from err


# Root attributes and the Python type each must have; every export carries all of them.
_ATTR_TYPES: dict[str, type] = {
    "method": str, "dataset": str, "split": str, "config": str, "checkpoint": str,
    "checkpoint_sha256": str, "step": int, "epoch": int, "seed": int, "created": str,
    "workbench_version": str,
}


def _member(group: h5py.Group, name: str, kind: type, where: str, path: Path):
    """group[name] when it is a `kind` reached by a hard link; None when absent; else ExportError."""
    link = group.get(name, getlink=True)
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        what = "an external link to another file" if isinstance(link, h5py.ExternalLink) else "a soft link"
        raise ExportError(f"{path}: {where} is {what}; an export holds its own data, links are not followed")
    obj = group[name]
    if not isinstance(obj, kind):
        found = "a group" if isinstance(obj, h5py.Group) else "a dataset" if isinstance(obj, h5py.Dataset) \
            else f"a {type(obj).__name__}"
        wanted = "a group" if kind is h5py.Group else "a dataset"
        raise ExportError(f"{path}: {where} is {found} where {wanted} belongs")
    if isinstance(obj, h5py.Dataset) and (obj.is_virtual or obj.external):
        raise ExportError(f"{path}: {where} keeps its data in other files (a virtual or external "
                          f"dataset); an export holds its own data, so it is not read")
    return obj


def _array(ds: h5py.Dataset, where: str, path: Path, shape: tuple, kinds: str, dtype: type) -> np.ndarray:
    """The dataset's values as dtype, after checking its shape and kind of numbers."""
    if ds.shape != shape:
        raise ExportError(f"{path}: {where} has shape {ds.shape}, expected {shape}")
    if ds.dtype.kind not in kinds:
        wanted = "integers" if kinds == "iu" else "numbers"
        raise ExportError(f"{path}: {where} has dtype {ds.dtype}, expected {wanted}")
    return ds[()].astype(dtype, copy=False)


def _members(group: h5py.Group | None, kind: type, where: str, path: Path) -> dict[str, Any]:
    if group is None:
        return {}
    return {name: _member(group, name, kind, f"{where}/{name}", path) for name in group}


def _read(path: Path, f: h5py.File, load: bool) -> Export:
    if "format_version" not in f.attrs:
        raise ExportError(f"{path} is an HDF5 file but not an SSL Workbench export (no format_version attribute)")
    version = _plain(f.attrs["format_version"])
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ExportError(f"{path} has an invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ExportError(
            f"{path} has format_version {version} from a newer SSL Workbench; "
            f"this build reads format_version {FORMAT_VERSION} (upgrade ssl-workbench)"
        )
    found = {name: _member(f, name, h5py.Dataset, f"/{name}", path) for name in REQUIRED_DATASETS}
    missing = [f"/{name}" for name, ds in found.items() if ds is None]
    if missing:
        raise ExportError(f"{path} is missing required dataset(s) {', '.join(missing)}")

    emb = found["embeddings"]
    if len(emb.shape) != 2:
        raise ExportError(f"{path}: /embeddings must be 2-D, got shape {emb.shape}")
    if emb.dtype.kind not in "fiu":
        raise ExportError(f"{path}: /embeddings has dtype {emb.dtype}, expected float32")
    n = emb.shape[0]
    attrs = _read_attrs(path, f)

    projections = {name: _array(ds, f"/projections/{name}", path, (n, 2), "fiu", np.float32)
                   for name, ds in _members(_member(f, "projections", h5py.Group, "/projections", path),
                                            h5py.Dataset, "/projections", path).items()}
    factors, factor_values = {}, {}
    for name, ds in _members(_member(f, "factors", h5py.Group, "/factors", path),
                             h5py.Dataset, "/factors", path).items():
        factors[name] = _array(ds, f"/factors/{name}", path, (n,), "iu", np.int64)
        factor_values[name] = _names_attr(ds, f"/factors/{name}", path)
    words_ds = _member(f, "words", h5py.Dataset, "/words", path)
    words = []
    if words_ds is not None:
        if words_ds.shape != (n,) or h5py.check_string_dtype(words_ds.dtype) is None:
            raise ExportError(f"{path}: /words must be {n} strings, got {words_ds.dtype} of shape {words_ds.shape}")
        words = list(words_ds.asstr()[()])
    return Export(
        embeddings=emb[()].astype(np.float32, copy=False) if load else None,
        labels=_array(found["labels"], "/labels", path, (n,), "iu", np.int64),
        indices=_array(found["indices"], "/indices", path, (n,), "iu", np.int64),
        projections=projections,
        factors=factors,
        factor_values=factor_values,
        attrs=attrs,
        embedding_shape=(int(emb.shape[0]), int(emb.shape[1])),
        words=words,
        split=_read_split(path, f, n, attrs["split"]),
    )


def _read_attrs(path: Path, f: h5py.File) -> dict[str, Any]:
    attrs = {key: _plain(value) for key, value in f.attrs.items()}
    missing = [key for key in _ATTR_TYPES if key not in attrs]
    if missing:
        raise ExportError(f"{path} lacks root attribute(s) {', '.join(missing)} that every SSL Workbench export has")
    for key, kind in _ATTR_TYPES.items():
        value = attrs[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ExportError(f"{path}: root attribute {key!r} is {type(value).__name__} {value!r:.40}, "
                              f"expected {kind.__name__}")
    try:
        attrs["config"] = json.loads(attrs["config"]) if attrs["config"] else {}
    except json.JSONDecodeError as err:
        raise ExportError(f"{path}: the config attribute is not valid JSON ({err.msg})") from err
    if not isinstance(attrs["config"], dict):
        raise ExportError(f"{path}: the config attribute is not a JSON object")
    return attrs


def _names_attr(ds: h5py.Dataset, where: str, path: Path) -> list[str]:
    """A dataset's `values` attribute: the JSON list naming its codes."""
    if "values" not in ds.attrs:
        raise ExportError(f"{path}: {where} lacks its 'values' attribute (the names of its codes)")
    try:
        names = json.loads(_plain(ds.attrs["values"]))
    except (json.JSONDecodeError, TypeError) as err:
        raise ExportError(f"{path}: {where} has an invalid 'values' attribute (not a JSON list)") from err
    if not isinstance(names, list):
        raise ExportError(f"{path}: {where} has an invalid 'values' attribute (not a JSON list)")
    return [str(v) for v in names]


def _read_split(path: Path, f: h5py.File, n: int, split: str) -> np.ndarray | None:
    """/split as codes of SPLIT_CODES; files written before it existed hold one split, or `all` (None)."""
    ds = _member(f, "split", h5py.Dataset, "/split", path)
    if ds is None:
        return np.full(n, SPLIT_CODES.index(split), dtype=np.uint8) if split in SPLIT_CODES else None
    codes = _array(ds, "/split", path, (n,), "iu", np.int64)
    if _names_attr(ds, "/split", path) != list(SPLIT_CODES) or ((codes < 0) | (codes >= len(SPLIT_CODES))).any():
        raise ExportError(f"{path}: /split must hold codes 0 = train, 1 = test")
    return codes.astype(np.uint8)
