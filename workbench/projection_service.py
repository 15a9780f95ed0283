"""A long-lived helper process for maps: PCA, t-SNE, UMAP, neighbour searches and map quality, off the GUI process.

The app starts one ProjectionService at launch. Its process warms UMAP up at once (numba compiles,
with its on-disk cache under the user's cache folder), so the first UMAP map a person asks for
does not wait for the compiler, and nothing it computes can hold the GUI's interpreter lock.

A request is any picklable callable ``fn(progress, cancel)`` (closures travel with cloudpickle);
``Call(name, *args)`` names one of the Qt-free functions in OPERATIONS, which is also what the
CLI export runs in-process, so both give the same numbers. Each request reports progress
messages and ends in exactly one of done / failed / cancelled. Cancel asks the work to stop;
work that cannot notice (UMAP's compiled kernels) is ended by restarting the process after a
grace period. A process that dies is restarted (the requests it held fail with a message that
says so) and ``on_restart`` hears about it.
"""
from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

# At most this often (seconds) a request's progress crosses to the parent; the last report always does.
PROGRESS_INTERVAL = 0.05
# Requests run side by side in the helper process (map quality and embedding health together).
THREADS = 4
# How long a cancelled request may keep running before the process is restarted to end it.
CANCEL_GRACE_S = 10.0
_POLL_S = 0.2


class ServiceUnavailable(RuntimeError):
    """The request cannot go to the helper process (not started, stopped, or not picklable)."""


def error_message(exc: BaseException) -> str:
    """One line a person can read: a ValueError's own text (bad input), else "TypeName: text"."""
    text = str(exc).strip()
    if not isinstance(exc, ValueError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text.splitlines()[0] if text else "unknown error"


# --- the operations (Qt-free; the same functions run in-process for the CLI) ---------------------
def _layout(emb, method: str, seed: int = 0, progress=None, cancel=None, **kwargs):
    """(N, 2) float32 map of embeddings (what the HDF5 export stores)."""
    from workbench.embeddings import project

    return project(emb, method, seed=seed, progress=progress, cancel=cancel, **kwargs)


def _project(emb, method: str = "pca", seed: int = 0, progress=None, cancel=None, stage: str = ""):
    """(ReferenceMap, xy): the explorer's map and what places later snapshots into it."""
    from workbench.analysis import project

    return project(emb, method, seed=seed, progress=progress, cancel=cancel, stage=stage)


def _place(reference, emb, progress=None, cancel=None):
    return reference.place(emb)


def _map_quality(emb, xy, progress=None, cancel=None, **kwargs):
    from workbench.analysis import map_quality

    return map_quality(emb, xy, progress=progress, cancel=cancel, **kwargs)


def _embedding_health(emb, labels, progress=None, cancel=None):
    from workbench.analysis import embedding_health

    return embedding_health(emb, labels, progress, cancel)


def _nearest(x, k: int = 10, metric: str = "cosine", progress=None, cancel=None):
    from workbench.neighbourhoods import nearest

    return nearest(x, k, metric, progress=lambda f: progress(f, "neighbours") if progress else None,
                   cancel=cancel)


def _warm_up(progress=None, cancel=None) -> float:
    from workbench.embeddings import warm_up_umap

    return warm_up_umap()


OPERATIONS: dict[str, Callable] = {"layout": _layout, "project": _project, "place": _place,
                                   "map_quality": _map_quality, "embedding_health": _embedding_health,
                                   "nearest": _nearest, "warm_up": _warm_up}


@dataclass
class Call:
    """A request by name: OPERATIONS[name](*args, progress=…, cancel=…, **kwargs)."""

    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.name not in OPERATIONS:
            raise ValueError(f"unknown operation {self.name!r}; choose one of {', '.join(OPERATIONS)}")

    def __call__(self, progress=None, cancel=None):
        return OPERATIONS[self.name](*self.args, progress=progress, cancel=cancel, **self.kwargs)


def run_inline(name: str, *args, progress=None, cancel=None, **kwargs):
    """Run an operation in this process (the CLI export): the very code the service runs."""
    return Call(name, args, kwargs)(progress, cancel)


# --- the helper process -----------------------------------------------------------------------
def _serve(requests, replies, warm_up: bool, threads: int) -> None:
    """Main loop of the helper process: run requests on a few threads, answer on `replies`."""
    from concurrent.futures import ThreadPoolExecutor

    from workbench.embeddings import Cancelled, configure_numba_cache

    configure_numba_cache()  # before anything imports numba
    cancels: dict[int, threading.Event] = {}
    pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="projection")

    def run(rid: int, payload: bytes, event: threading.Event) -> None:
        last = [0.0]

        def progress(fraction: float, stage: str = "") -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL or fraction >= 1.0:
                last[0] = now
                replies.put(("progress", rid, (float(fraction), str(stage))))

        try:
            fn = cloudpickle.loads(payload)
            result = fn(progress, event.is_set)
            kind, body = ("cancelled", None) if event.is_set() else ("done", result)
            body = cloudpickle.dumps(body)  # here, so a result that cannot travel is a clear failure
        except Cancelled:
            kind, body = "cancelled", cloudpickle.dumps(None)
        except Exception as exc:  # any failure of the work becomes a message, never a dead service
            kind, body = "failed", cloudpickle.dumps((error_message(exc), traceback.format_exc()))
        cancels.pop(rid, None)
        replies.put((kind, rid, body))

    if warm_up:
        def warm() -> None:
            try:
                replies.put(("warm", 0, _warm_up()))
            except Exception as exc:  # UMAP missing or broken: maps still work, UMAP will say why
                replies.put(("warm", 0, error_message(exc)))
        pool.submit(warm)
    replies.put(("ready", 0, os.getpid()))
    while True:
        msg = requests.get()
        if msg is None:
            break
        kind, rid, payload = msg
        if kind == "cancel":
            if rid in cancels:
                cancels[rid].set()
        elif kind == "run":
            cancels[rid] = threading.Event()
            pool.submit(run, rid, payload, cancels[rid])
    for event in cancels.values():
        event.set()
    pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class _Request:
    payload: bytes
    on_progress: Callable[[float, str], Any] | None
    on_end: Callable[[str, Any], Any]  # ("done", result) | ("failed", (message, traceback)) | ("cancelled", None)
    cancel_at: float | None = None


class ProjectionService:
    """The parent's handle on the helper process: submit, cancel, restart when it dies, stop.

    Callbacks run on the service's reader thread; a GUI relays them to its own thread.
    """

    def __init__(self, warm_up: bool = True, threads: int = THREADS, cancel_grace: float = CANCEL_GRACE_S,
                 on_restart: Callable[[str], Any] | None = None, on_warm: Callable[[Any], Any] | None = None):
        self.warm_up, self.threads, self.cancel_grace = warm_up, threads, cancel_grace
        self.on_restart, self.on_warm = on_restart, on_warm
        self.restarts = 0
        self.warm = threading.Event()
        self.warm_result: Any = None  # seconds the warm-up took, or why it failed
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._pending: dict[int, _Request] = {}
        self._proc = None
        self._requests = None
        self._stopping = False
        self._generation = 0

    # --- life --------------------------------------------------------------------------------
    def start(self) -> ProjectionService:
        with self._lock:
            if self.is_alive():
                return self
            self._stopping = False
            self._spawn()
        return self

    def _spawn(self) -> None:
        ctx = mp.get_context("spawn")  # never fork a process that may hold Qt or torch threads
        self._requests, replies = ctx.Queue(), ctx.Queue()
        self._proc = ctx.Process(target=_serve, args=(self._requests, replies, self.warm_up, self.threads),
                                 name="ssl-workbench-projections", daemon=True)
        self._proc.start()
        self._generation += 1
        threading.Thread(target=self._read, args=(self._proc, replies, self._generation),
                         name="projection-replies", daemon=True).start()

    def is_alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def stop(self, timeout: float = 2.0) -> None:
        """End the helper process (requests still running end as cancelled)."""
        with self._lock:
            self._stopping = True
            proc, requests = self._proc, self._requests
            pending, self._pending = self._pending, {}
        if proc is not None and proc.is_alive():
            try:
                requests.put(None)
            except (OSError, ValueError):
                pass
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()  # a compiling UMAP does not listen; quitting never waits for it
                proc.join(timeout)
        for req in pending.values():
            req.on_end("cancelled", None)

    def restart(self, reason: str, resubmit: bool = False) -> None:
        """Kill and start the process again. Cancelled requests it held end as cancelled; the
        others are sent again (resubmit: they did nothing wrong) or fail with `reason`."""
        with self._lock:
            if self._stopping:
                return
            proc, pending, self._pending = self._proc, self._pending, {}
            self.restarts += 1
            self._spawn()  # the reader of the old process sees a new generation and leaves
            again = {rid: req for rid, req in pending.items() if resubmit and req.cancel_at is None}
            for rid, req in again.items():
                self._pending[rid] = req
                self._requests.put(("run", rid, req.payload))
        if proc is not None and proc.is_alive():
            proc.kill()
        for rid, req in pending.items():
            if req.cancel_at is not None:
                req.on_end("cancelled", None)
            elif rid not in again:
                req.on_end("failed", (f"{reason}; the projection process was restarted, try again", ""))
        if self.on_restart is not None:
            self.on_restart(f"{reason}; the projection process was restarted")

    # --- requests ----------------------------------------------------------------------------
    def submit(self, fn: Callable, on_end: Callable[[str, Any], Any],
               on_progress: Callable[[float, str], Any] | None = None) -> int:
        """Send fn(progress, cancel) to the helper process; returns the request id.

        Raises ServiceUnavailable when the process is not running or fn cannot be pickled
        (the caller then runs it where it is).
        """
        try:
            payload = cloudpickle.dumps(fn)
        except Exception as exc:
            raise ServiceUnavailable(f"cannot send {getattr(fn, '__name__', fn)!r}: {error_message(exc)}") from exc
        with self._lock:
            if self._stopping or self._proc is None:
                raise ServiceUnavailable("the projection process is not running")
            rid = next(self._ids)
            self._pending[rid] = _Request(payload, on_progress, on_end)
            self._requests.put(("run", rid, payload))
        return rid

    def cancel(self, rid: int) -> None:
        """Ask request `rid` to stop; if it has not within cancel_grace seconds, the process restarts."""
        with self._lock:
            req = self._pending.get(rid)
            if req is None or req.cancel_at is not None:
                return
            req.cancel_at = time.monotonic()
            self._requests.put(("cancel", rid, None))

    def call(self, fn: Callable, timeout: float | None = None,
             progress: Callable[[float, str], Any] | None = None) -> Any:
        """Run fn(progress, cancel) in the helper process and wait for its result (CLI, tests)."""
        ended = threading.Event()
        box: dict = {}

        def on_end(kind, payload):
            box["kind"], box["payload"] = kind, payload
            ended.set()

        rid = self.submit(fn, on_end, progress)
        if not ended.wait(timeout):
            self.cancel(rid)
            raise TimeoutError(f"projection request took longer than {timeout} s")
        if box["kind"] == "failed":
            raise RuntimeError(box["payload"][0])
        if box["kind"] == "cancelled":
            from workbench.embeddings import Cancelled

            raise Cancelled()
        return box["payload"]

    def pending(self) -> int:
        """Requests sent and not yet ended."""
        return len(self._pending)

    # --- reader thread -----------------------------------------------------------------------
    def _read(self, proc, replies, generation: int) -> None:
        while True:
            with self._lock:
                if self._stopping or generation != self._generation:
                    return
            try:
                kind, rid, body = replies.get(timeout=_POLL_S)
            except queue.Empty:
                self._watch(proc, generation)
                continue
            except (EOFError, OSError, ValueError):
                self._watch(proc, generation)
                time.sleep(_POLL_S)
                continue
            if kind == "warm":
                self.warm_result = body
                self.warm.set()
                if self.on_warm is not None:
                    self.on_warm(body)
            elif kind == "progress":
                req = self._pending.get(rid)
                if req is not None and req.on_progress is not None and req.cancel_at is None:
                    req.on_progress(*body)
            elif kind in ("done", "failed", "cancelled"):
                with self._lock:
                    req = self._pending.pop(rid, None) if generation == self._generation else None
                if req is not None:
                    req.on_end(kind, cloudpickle.loads(body))

    def _watch(self, proc, generation: int) -> None:
        """Between replies: restart a dead process, or one that ignores a cancel for too long."""
        with self._lock:
            if self._stopping or generation != self._generation:
                return
            resubmit = proc.is_alive()
            if not resubmit:
                reason = f"the projection process stopped unexpectedly (exit code {proc.exitcode})"
            else:
                now = time.monotonic()
                late = [r for r in self._pending.values()
                        if r.cancel_at is not None and now - r.cancel_at > self.cancel_grace]
                if not late:
                    return
                reason = "a cancelled projection did not stop in time"
        self.restart(reason, resubmit=resubmit)
