"""Where training batches come from: the whole split on the device, or streamed from disk.

Rule for data_path=auto: the in-memory path when the train split (at the training size) is
smaller than min(25 % of available RAM, 2 GiB) and, on CUDA, than 25 % of free GPU memory;
otherwise the streaming path. Both yield the same Batch for the same indices, so methods never
know which one fed them.
"""
from __future__ import annotations

import abc
import os
import queue
import threading
from collections.abc import Iterator

import numpy as np
import torch

from workbench.api import Batch
from workbench.data.base import Dataset, model_input
from workbench.data.resize import resize_square
from workbench.data.store import ImageRows, as_tensor, gather

DATA_PATHS = ("auto", "memory", "stream")
MEMORY_MAX_BYTES = 2 * 2**30
MEMORY_RAM_SHARE = 0.25
MEMORY_GPU_SHARE = 0.25
PREFETCH_BATCHES = 3  # batches gathered ahead of the one training


def available_ram() -> int:
    """Bytes of RAM available to new allocations (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def split_bytes(x) -> int:
    """Bytes the split takes as one tensor at the training size."""
    if isinstance(x, ImageRows):
        return x.nbytes
    return int(x.numel() * x.element_size())


def choose_data_path(setting: str, x_train, device: torch.device) -> str:
    """"memory" or "stream" for a data_path setting (see the module docstring for auto)."""
    if setting in ("memory", "stream"):
        return setting
    if setting != "auto":
        raise ValueError(f"data_path must be one of {', '.join(DATA_PATHS)}, got {setting!r}")
    need = split_bytes(x_train)
    fits = need < min(MEMORY_RAM_SHARE * available_ram(), MEMORY_MAX_BYTES)
    if fits and device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        fits = need < MEMORY_GPU_SHARE * free
    return "memory" if fits else "stream"


class BatchSource(abc.ABC):
    """Batches of the train split for an epoch order; kind is "memory" or "stream"."""

    kind = ""

    @abc.abstractmethod
    def epoch(self, order: torch.Tensor, batch_size: int, first_batch: int, n_batches: int) -> Iterator[Batch]:
        """Batch b holds rows order[b*batch_size:(b+1)*batch_size], for b from first_batch."""


class MemorySource(BatchSource):
    """The whole split as one tensor on the device: the fastest path for small data."""

    kind = "memory"

    def __init__(self, data: Dataset, device: torch.device):
        self.device = device
        self.x = as_tensor(data.x_train).to(device)
        self.y = data.y_train.to(device)

    def epoch(self, order, batch_size, first_batch, n_batches):
        order = order.to(self.device)
        for b in range(first_batch, n_batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            yield Batch(model_input(self.x[idx]), self.y[idx], idx)


class StreamSource(BatchSource):
    """Rows read from disk (or a CPU tensor) by a background thread, a few batches ahead.

    The thread gathers each batch's rows (sorted reads from the cache) into pinned memory when
    training on CUDA, and the copy to the device is non-blocking. Stored images a little larger
    than the training size are resized on the device (on CUDA) or in the thread (on CPU, where
    the thread's work overlaps the training step).
    """

    kind = "stream"

    def __init__(self, data: Dataset, device: torch.device, prefetch: int = PREFETCH_BATCHES):
        self.device = device
        self.x = data.x_train
        self.y = data.y_train
        self.prefetch = max(1, int(prefetch))
        self.pin = device.type == "cuda"
        self.size = self.x.size if isinstance(self.x, ImageRows) else None

    def _read(self, idx: np.ndarray) -> torch.Tensor:
        if isinstance(self.x, ImageRows):
            x = gather(self.x.store, self.x.rows[idx])
            if self.device.type != "cuda":
                x = resize_square(x, self.size)
        else:
            x = self.x[torch.from_numpy(idx)]
        return x.pin_memory() if self.pin else x

    def epoch(self, order, batch_size, first_batch, n_batches):
        order = order.cpu().numpy()
        ready: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def offer(item) -> bool:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                for b in range(first_batch, n_batches):
                    idx = order[b * batch_size:(b + 1) * batch_size]
                    if not offer((idx, self._read(idx), self.y[torch.from_numpy(idx)])):
                        return
            except BaseException as e:  # handed to the training thread, which raises it
                offer(e)

        thread = threading.Thread(target=produce, name="batch-prefetch", daemon=True)
        thread.start()
        try:
            for _ in range(first_batch, n_batches):
                item = ready.get()
                if isinstance(item, BaseException):
                    raise item
                idx, x, y = item
                x = x.to(self.device, non_blocking=True)
                if self.size is not None and self.device.type == "cuda":
                    x = resize_square_on_device(x, self.size)
                idx_t = torch.from_numpy(idx).to(self.device, non_blocking=True)
                yield Batch(model_input(x), y.to(self.device, non_blocking=True), idx_t)
        finally:  # also when training stops mid-epoch and the generator is closed
            stop.set()
            thread.join()


def resize_square_on_device(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, S, S) -> uint8 (N, C, size, size) where x lives (no trip to the CPU)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    import torch.nn.functional as F

    out = F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False,
                        antialias=x.shape[-1] > size)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def batch_source(data: Dataset, setting: str, device: torch.device) -> BatchSource:
    """The BatchSource for a run's data_path setting (see choose_data_path)."""
    if choose_data_path(setting, data.x_train, device) == "memory":
        return MemorySource(data, device)
    return StreamSource(data, device)
