"""Background work for widgets: run fn(progress, cancel) off the GUI thread (in the projection process when
the app runs one) and report back as Qt signals."""
from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from workbench.embeddings import Cancelled
from workbench.projection_service import ProjectionService, ServiceUnavailable

# At most this often (seconds) a progress report crosses to the GUI thread; stage changes always do.
_PROGRESS_INTERVAL = 0.05

# Tasks that have started but not yet delivered their end, so Python cannot collect them mid-run.
_running: set[Task] = set()
# The app's projection process (start_projection_service); None: tasks run on threads here.
_service: ProjectionService | None = None


def error_message(exc: BaseException) -> str:
    """One line a person can read: a ValueError's own text (bad input), else "TypeName: text"."""
    text = str(exc).strip()
    if not isinstance(exc, ValueError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text.splitlines()[0] if text else "unknown error"


class Task(QObject):
    """One call of fn(progress, cancel) on a worker thread, Orange's ConcurrentWidgetMixin in miniature.

    fn calls progress(fraction, stage="") as it goes (a negative fraction means "no estimate")
    and should check cancel() now and then; raising workbench.embeddings.Cancelled (or returning
    after cancel() was asked for) ends in `cancelled`. All four signals arrive on the GUI thread.

    When the app runs a projection process (start_projection_service), fn goes there (pickled
    with its closure), so its work never holds this process's interpreter lock; fn that cannot
    be pickled (it refers to a widget) runs here. Otherwise the worker is a daemon Python thread
    rather than a QThreadPool/QThread: some work (UMAP's numba compilation) cannot be
    interrupted, and quitting the app must never wait for it or destroy a running QThread.
    """

    progress = Signal(float, str)
    done = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    ended = Signal()  # after any of done / failed / cancelled

    # Worker thread -> GUI thread: (kind, payload), always queued.
    _relay = Signal(str, object)

    def __init__(self, fn: Callable[[Callable, Callable], Any], parent: QObject | None = None, name: str = ""):
        super().__init__(parent)
        self._fn = fn
        self.name = name or getattr(fn, "__name__", "task")
        self._cancel_event = threading.Event()
        self._last_report = 0.0
        self._last_stage: str | None = None
        self._state = "new"  # new | running | done | failed | cancelled
        self.request_id: int | None = None  # set when the work runs in the projection process
        self.result: Any = None
        self.error: str = ""
        self.traceback: str = ""
        self._relay.connect(self._deliver, Qt.QueuedConnection)
        if parent is not None:
            # a widget going away should not keep its work running
            parent.destroyed.connect(lambda *_: self.cancel())

    # --- state -------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    def is_running(self) -> bool:
        return self._state == "running"

    def cancel(self) -> None:
        """Ask the work to stop; `cancelled` follows once fn notices (or finishes anyway)."""
        self._cancel_event.set()
        if self.request_id is not None and _service is not None:
            _service.cancel(self.request_id)

    def in_process(self) -> bool:
        """Whether the work runs in the projection process (not on a thread here)."""
        return self.request_id is not None

    def is_cancel_requested(self) -> bool:
        return self._cancel_event.is_set()

    def start(self) -> Task:
        if self._state != "new":
            raise RuntimeError(f"task {self.name!r} was already started")
        self._state = "running"
        _running.add(self)
        if _service is not None:
            try:
                self.request_id = _service.submit(self._fn, self._service_ended, self._report)
                return self
            except ServiceUnavailable:
                pass  # not picklable or no process: run here, as without a service
        threading.Thread(target=self._run, name=f"task-{self.name}", daemon=True).start()
        return self

    def _service_ended(self, kind: str, payload: Any) -> None:
        """The projection process's reader thread: the request ended."""
        if kind == "done" and self._cancel_event.is_set():
            kind = "cancelled"
        self._emit(kind, payload)

    # --- worker thread -----------------------------------------------------------------------
    def _report(self, fraction: float, stage: str = "") -> None:
        now = time.monotonic()
        if stage == self._last_stage and now - self._last_report < _PROGRESS_INTERVAL and fraction < 1.0:
            return  # coalesce: the GUI repaints a progress bar at most ~20 times a second
        self._last_report, self._last_stage = now, stage
        self._emit("progress", (float(fraction), str(stage)))

    def _cancel_requested(self) -> bool:
        return self._cancel_event.is_set()

    def _run(self) -> None:
        try:
            result = self._fn(self._report, self._cancel_requested)
        except Cancelled:
            self._emit("cancelled", None)
        except Exception as exc:  # any failure of the work becomes a message, never a crash
            self._emit("failed", (error_message(exc), traceback.format_exc()))
        else:
            self._emit("cancelled" if self._cancel_event.is_set() else "done", result)

    def _emit(self, kind: str, payload: Any) -> None:
        try:
            self._relay.emit(kind, payload)
        except RuntimeError:
            # the Qt side of this task was deleted with its parent: nobody is listening
            self._cancel_event.set()
            _running.discard(self)

    # --- GUI thread --------------------------------------------------------------------------
    @Slot(str, object)
    def _deliver(self, kind: str, payload: Any) -> None:
        if kind == "progress":
            if self._state == "running":
                self.progress.emit(*payload)
            return
        if self._state != "running":
            return
        if kind == "done":
            self._state, self.result = "done", payload
            self.done.emit(payload)
        elif kind == "failed":
            self._state, (self.error, self.traceback) = "failed", payload
            self.failed.emit(self.error)
        else:
            self._state = "cancelled"
            self.cancelled.emit()
        self.ended.emit()
        _running.discard(self)


def run_task(fn: Callable[[Callable, Callable], Any], parent: QObject | None = None, name: str = "") -> Task:
    """Start fn(progress, cancel) in the background; connect to the returned Task's signals.

    Signals are queued, so connecting right after this call never misses one.
    """
    return Task(fn, parent, name).start()


def running_tasks() -> list[Task]:
    """Tasks started and not yet ended (for tests and for a quit prompt)."""
    return list(_running)


class _ServiceHost(QObject):
    """Carries the projection service's news from its reader thread to the GUI thread."""

    restarted = Signal(str)
    warmed = Signal(object)


def start_projection_service(parent: QObject | None = None, warm_up: bool = True) -> ProjectionService:
    """Start the app's projection process; from now on tasks run there. Its `host` (a QObject on
    the GUI thread) signals `restarted(message)` when the process died and was started again."""
    global _service
    host = _ServiceHost(parent)
    service = ProjectionService(warm_up=warm_up, on_restart=host.restarted.emit, on_warm=host.warmed.emit)
    service.host = host
    _service = service.start()
    return service


def stop_projection_service() -> None:
    """Stop the app's projection process (on quit); tasks run on threads again."""
    global _service
    service, _service = _service, None
    if service is not None:
        service.stop()


def projection_service() -> ProjectionService | None:
    return _service


class TaskSlot:
    """One kind of background job of a widget: starting a new one cancels the previous one and ignores its result.

    The callbacks given to `start` run on the GUI thread, only for the slot's current task, and
    after the slot has let go of it (so `is_running()` is already false inside `done`). A
    superseded or cancelled task still owns its thread until it reports back: `is_busy()` stays
    true until then, which is what a widget (or a test) waits on before it goes away.
    """

    def __init__(self, parent: QObject | None = None, name: str = "task"):
        self._parent = parent
        self.name = name
        self.current: Task | None = None
        self._alive: set[Task] = set()

    def start(self, fn: Callable[[Callable, Callable], Any], done: Callable[[Any], Any] | None = None,
              failed: Callable[[str], Any] | None = None, cancelled: Callable[[], Any] | None = None,
              progress: Callable[[float, str], Any] | None = None, name: str = "") -> Task:
        """Run fn(progress, cancel) in the background in place of the slot's current task."""
        if self.current is not None:
            self.current.cancel()  # the newer request wins
        task = Task(fn, self._parent, name or self.name)
        self.current = task
        self._alive.add(task)
        if progress is not None:
            task.progress.connect(lambda f, stage: task is self.current and progress(f, stage))
        task.done.connect(lambda result: self._settle(task, done, result))
        task.failed.connect(lambda message: self._settle(task, failed, message))
        task.cancelled.connect(lambda: self._settle(task, cancelled))
        task.ended.connect(lambda: self._alive.discard(task))
        return task.start()

    def _settle(self, task: Task, callback: Callable | None, *args) -> None:
        if task is not self.current:
            return  # superseded or forgotten: its result describes something no longer shown
        self.current = None
        if callback is not None:
            callback(*args)

    def cancel(self) -> None:
        """Ask the current task to stop; its `cancelled` (or `done`) callback follows when it has."""
        if self.current is not None:
            self.current.cancel()

    def forget(self) -> None:
        """Cancel the current task and drop it: no callback of it will run (it may still be busy a while)."""
        self.cancel()
        self.current = None

    def is_running(self) -> bool:
        """Whether the current task has not reported back yet."""
        return self.current is not None

    def is_busy(self) -> bool:
        """Whether any task started here (current, superseded or forgotten) still owns its thread."""
        return bool(self._alive)
