"""The on-disk image cache: each (source, stored size) decoded once into a uint8 array file.

Layout of one entry, a folder under cache_root():
    images.u8       raw uint8 (N, C, H, W), C order, no header
    arrays.npz      int64 labels, readable-row mask, factors (whatever the source keeps)
    manifest.json   shape, source fingerprint, format version (written last)
An entry is built under a temporary name and renamed into place when complete, so a killed
build never leaves something that looks finished; stale temporary folders are removed by the
next build of the same entry.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from workbench.data.base import DataError
from workbench.data.store import ImageStore
from workbench.user_cache import cache_root

FORMAT_VERSION = 1
# Stored a little larger than the training side so crops taken from the stored image are not
# upscaled from a tiny one; the training side is reached by resizing down.
STORE_MARGIN = 1.15
# Rows decoded between progress reports and cancel checks.
_CHUNK = 256

Progress = Callable[[float], object] | None
Cancel = Callable[[], bool] | None


class BuildCancelled(DataError):
    """The cancel callback asked a cache build to stop; nothing was left behind."""

    def __init__(self, message: str = "stopped while building the image cache; nothing was kept "
                                      "(the next start builds it again)"):
        super().__init__(message)


def stored_size(image_size: int) -> int:
    """The side an image is cached at for training at image_size (1.15×, rounded)."""
    return max(int(image_size), int(round(image_size * STORE_MARGIN)))


def fingerprint(entries: Iterable[tuple[str, int, int]], extra: str = "") -> str:
    """sha256 of (relative path, size, mtime_ns) triples: changes when any file is added,
    removed, replaced or touched."""
    h = hashlib.sha256(f"v{FORMAT_VERSION}|{extra}\n".encode())
    for rel, size, mtime in entries:
        h.update(f"{rel}\t{size}\t{mtime}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def entry_dir(kind: str, source: str, size_tag: str) -> Path:
    """The cache folder of one (source, stored size): readable name + hash of the source."""
    digest = hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(source).name or kind)[:40]
    return cache_root() / f"{kind}-{stem}-{digest}-{size_tag}"


class CacheEntry:
    """A complete cache entry, opened for reading."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.manifest = json.loads((self.path / "manifest.json").read_text())
        self.store = ImageStore(self.path / "images.u8", tuple(self.manifest["shape"]))
        with np.load(self.path / "arrays.npz") as z:
            self.arrays = {k: z[k] for k in z.files}


def open_entry(path: Path, source_fingerprint: str) -> CacheEntry | None:
    """The entry at path when it is complete and made from this very source, else None."""
    try:
        entry = CacheEntry(path)
    except (OSError, ValueError, KeyError):
        return None
    m = entry.manifest
    if m.get("version") != FORMAT_VERSION or m.get("fingerprint") != source_fingerprint:
        return None
    return entry


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temps(final: Path) -> None:
    for tmp in final.parent.glob(f"{final.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 2)[-2] if tmp.name.count("-") >= 2 else ""
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _install(tmp: Path, final: Path) -> None:
    """Move a finished temporary entry into place, replacing an out-of-date one."""
    if final.exists():
        old = final.with_name(f"{final.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        try:
            os.replace(final, old)
        except OSError:
            old = None
        try:
            os.replace(tmp, final)
        except OSError:  # another process installed its own build first: use that one
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.replace(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def build_entry(final: Path, shape: tuple[int, int, int, int], fill: Callable[[int], np.ndarray | None],
                arrays: dict[str, np.ndarray], manifest: dict, progress: Progress = None,
                cancel: Cancel = None, workers: int | None = None) -> CacheEntry:
    """Write rows fill(0..N-1) (uint8 (C, H, W), or None for an unreadable item, stored as
    zeros and marked in arrays["ok"]) in parallel, then install the entry atomically.

    fill runs in a thread pool (PIL and torch release the GIL while decoding and resizing).
    progress(fraction) after each chunk; cancel() returning True raises BuildCancelled and
    removes the partial build.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(final)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}-{time.monotonic_ns()}")
    tmp.mkdir()
    n, row_bytes = shape[0], int(np.prod(shape[1:]))
    ok = np.zeros(n, dtype=bool)
    try:
        fd = os.open(tmp / "images.u8", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.ftruncate(fd, n * row_bytes)

            def write(i: int) -> None:
                row = fill(i)
                if row is None:
                    return
                row = np.ascontiguousarray(row, dtype=np.uint8)
                if row.shape != tuple(shape[1:]):
                    raise ValueError(f"row {i} has shape {row.shape}, expected {tuple(shape[1:])}")
                os.pwrite(fd, row.tobytes(), i * row_bytes)  # pwrite: threads never share an offset
                ok[i] = True

            threads = workers or min(8, os.cpu_count() or 1)
            with ThreadPoolExecutor(max_workers=threads) as pool:
                for start in range(0, n, _CHUNK):
                    if cancel is not None and cancel():
                        raise BuildCancelled()
                    list(pool.map(write, range(start, min(start + _CHUNK, n))))
                    if progress is not None:
                        progress(min(start + _CHUNK, n) / max(n, 1))
            os.fsync(fd)
        finally:
            os.close(fd)
        np.savez(tmp / "arrays.npz", ok=ok, **arrays)
        manifest = {**manifest, "version": FORMAT_VERSION, "shape": list(shape),
                    "readable": int(ok.sum()), "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        _install(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    entry = open_entry(final, manifest["fingerprint"])
    if entry is None:
        raise DataError(f"the image cache at {final} could not be read back after building it; "
                        f"remove it or set SSL_WORKBENCH_CACHE to a writable folder")
    return entry


def writable_root() -> Path:
    """cache_root(), created; a clear DataError when it cannot be."""
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the image cache folder {root} ({e.strerror or e}); "
                        f"set SSL_WORKBENCH_CACHE to a writable folder") from None
    return root
