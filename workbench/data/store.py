"""On-disk uint8 image arrays (N, C, H, W) read by rows, and the Dataset view over them."""
from __future__ import annotations

import os
import threading

import numpy as np
import torch

from workbench.data.resize import resize_square

_READ_BLOCK = 4096  # rows read and resized together when a large part of a split is asked for


class ImageStore:
    """A raw C-order uint8 (N, C, H, W) file read with pread, never mapped.

    Reading with pread instead of np.memmap keeps the process's resident memory bounded: pages
    of a mapping count in RSS once touched, so a few epochs over a 4 GB cache would look like a
    4 GB process. The kernel's page cache still keeps hot rows in memory for free.
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, int, int, int]):
        self.path = os.fspath(path)
        self.shape = tuple(int(s) for s in shape)
        self.row_bytes = int(np.prod(self.shape[1:]))
        expected = self.shape[0] * self.row_bytes
        actual = os.path.getsize(self.path)
        if actual != expected:
            raise OSError(f"{self.path} holds {actual} bytes, expected {expected} for shape {self.shape}")
        self._fd: int | None = None
        self._pid = -1
        self._lock = threading.Lock()

    def _descriptor(self) -> int:
        # One descriptor per process: a forked child must not share the parent's.
        with self._lock:
            if self._fd is None or self._pid != os.getpid():
                self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                self._pid = os.getpid()
            return self._fd

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Rows (sorted ascending, as a batch gathered for speed should be) into out (len(rows), C, H, W)."""
        rows = np.asarray(rows, dtype=np.int64)
        if out is None:
            out = np.empty((len(rows), *self.shape[1:]), dtype=np.uint8)
        if len(rows) == 0:
            return out
        if rows.min() < 0 or rows.max() >= self.shape[0]:
            raise IndexError(f"row out of range for {self.shape[0]} stored images")
        fd, flat = self._descriptor(), out.reshape(len(rows), self.row_bytes)
        # Consecutive rows are read with one call (slices, sorted batches of a dense subset).
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        for start, stop in zip(np.r_[0, breaks], np.r_[breaks, len(rows)]):
            view = memoryview(flat[start:stop]).cast("B")
            offset, done = int(rows[start]) * self.row_bytes, 0
            while done < len(view):
                got = os.preadv(fd, [view[done:]], offset + done)
                if got <= 0:
                    raise OSError(f"{self.path} ended early (truncated cache?)")
                done += got
        return out

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: os may be gone
            pass


class ImageRows:
    """A split of a dataset kept on disk: indexable like a uint8 tensor, read on demand.

    `view[index]` (an int, a slice, or a sequence/array/tensor of ints) returns a uint8 tensor
    at the training size; `raw(index)` returns the stored (slightly larger) rows, which the
    streaming path resizes on the device. Only the rows asked for are ever read.
    """

    dtype = torch.uint8

    def __init__(self, store: ImageStore, rows: np.ndarray, size: int):
        self.store = store
        self.rows = np.asarray(rows, dtype=np.int64)
        self.size = int(size)

    @property
    def stored_size(self) -> int:
        return self.store.shape[2]

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.rows), self.store.shape[1], self.size, self.size))

    @property
    def nbytes(self) -> int:
        """Bytes of the whole split at the training size (what the in-memory path would hold)."""
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return len(self.rows)

    def resized(self, size: int) -> "ImageRows":
        return ImageRows(self.store, self.rows, size)

    def _positions(self, key) -> tuple[np.ndarray, bool]:
        if isinstance(key, (int, np.integer)):
            return np.asarray([self.rows[key]]), True
        if isinstance(key, torch.Tensor) and key.dim() == 0:
            return np.asarray([self.rows[int(key)]]), True
        if isinstance(key, slice):
            return self.rows[key], False
        if isinstance(key, torch.Tensor):
            key = key.detach().cpu().numpy()
        key = np.asarray(key)
        if key.dtype == bool:
            return self.rows[key], False
        return self.rows[key.astype(np.int64, copy=False)], False

    def raw(self, key) -> torch.Tensor:
        """The stored rows for key, uint8 (k, C, S, S) at the stored size."""
        rows, single = self._positions(key)
        out = gather(self.store, rows)
        return out[0] if single else out

    def __getitem__(self, key) -> torch.Tensor:
        rows, single = self._positions(key)
        if self.size == self.stored_size or len(rows) <= _READ_BLOCK:
            out = resize_square(gather(self.store, rows), self.size)
            return out[0] if single else out
        # Many rows (the in-memory path loading a split): read and shrink a block at a time, so
        # the larger stored pixels never exist all at once.
        out = torch.empty((len(rows), self.store.shape[1], self.size, self.size), dtype=torch.uint8)
        for start in range(0, len(rows), _READ_BLOCK):
            block = rows[start:start + _READ_BLOCK]
            out[start:start + len(block)] = resize_square(gather(self.store, block), self.size)
        return out

    def numpy(self) -> np.ndarray:
        """Every row at the training size (loads the whole split: only for sets that fit)."""
        return self[:].numpy()


def gather(store: ImageStore, rows: np.ndarray, out: np.ndarray | None = None) -> torch.Tensor:
    """Rows in the order given, read from disk in sorted order (sequential reads are faster)."""
    rows = np.asarray(rows, dtype=np.int64)
    unique, inverse = np.unique(rows, return_inverse=True)
    data = store.read(unique)
    if out is None:
        if len(unique) == len(rows) and np.array_equal(unique, rows):
            return torch.from_numpy(data)
        out = np.empty((len(rows), *store.shape[1:]), dtype=np.uint8)
    np.take(data, inverse.reshape(-1), axis=0, out=out)
    return torch.from_numpy(out)


def stored_rows(x) -> bool:
    """True when x is a split kept on disk (an ImageRows) rather than an in-memory tensor."""
    return isinstance(x, ImageRows)


def as_tensor(x) -> torch.Tensor:
    """A whole split as a tensor: an in-memory tensor unchanged, an on-disk split read in full."""
    return x[:] if isinstance(x, ImageRows) else x


class DiskTiles:
    """Thumbnails (H, W, 3) uint8 of chosen rows of an on-disk split, read when first shown
    (like WordTiles), so an explorer over 100,000 items never holds all their pixels."""

    def __init__(self, x: ImageRows, rows: np.ndarray, cache_size: int = 4096):
        self.x, self.rows = x, np.asarray(rows, dtype=np.int64)
        self._cache: dict[int, np.ndarray] = {}
        self._cache_size = cache_size

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.rows), self.x.size, self.x.size, 3)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self.rows)
        tile = self._cache.get(i)
        if tile is None:
            if len(self._cache) >= self._cache_size:  # bounded: a long browse does not grow without end
                self._cache.clear()
            chw = self.x[int(self.rows[i])].numpy()
            if chw.shape[0] == 1:
                chw = np.repeat(chw, 3, axis=0)
            tile = self._cache[i] = np.ascontiguousarray(chw.transpose(1, 2, 0))
        return tile

    def __array__(self, dtype=None, copy=None):
        """Every tile as one (N, H, W, 3) array (for callers that need them all at once)."""
        tiles = np.stack([self[i] for i in range(len(self))]) if len(self) else np.zeros(self.shape, np.uint8)
        return tiles if dtype is None else tiles.astype(dtype)
