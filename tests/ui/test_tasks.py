"""ui.tasks: background work reports progress, results, failures and cancellation on the GUI thread."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from ui.tasks import Task, error_message, run_task, running_tasks
from workbench.data.base import DataError
from workbench.embeddings import Cancelled


def on_gui_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def test_progress_and_result_arrive_on_the_gui_thread(qtbot):
    worker_threads, seen = [], []

    def work(progress, cancel):
        worker_threads.append(threading.current_thread())
        for i in range(5):
            progress(i / 4, f"stage {i}")
        return 42

    task = run_task(work)
    task.progress.connect(lambda f, s: seen.append((f, s, on_gui_thread())))
    with qtbot.waitSignal(task.done, timeout=5000) as blocker:
        pass
    assert blocker.args == [42]
    assert task.state == "done" and task.result == 42
    assert worker_threads and worker_threads[0] is not threading.main_thread()
    assert seen and all(gui for _, _, gui in seen)
    assert seen[-1][:2] == (1.0, "stage 4")  # stage changes are never dropped by coalescing
    assert task not in running_tasks()


def test_exception_becomes_a_readable_failure(qtbot):
    def work(progress, cancel):
        raise KeyError("missing")

    task = run_task(work)
    with qtbot.waitSignal(task.failed, timeout=5000) as blocker:
        pass
    assert blocker.args == ["KeyError: 'missing'"]
    assert "Traceback" in task.traceback and task.state == "failed"


def test_value_errors_keep_their_own_words(qtbot):
    def work(progress, cancel):
        raise DataError("folder /x has no images\n(second line)")

    task = run_task(work)
    with qtbot.waitSignal(task.failed, timeout=5000) as blocker:
        pass
    assert blocker.args == ["folder /x has no images"]


@pytest.mark.parametrize("exc, text", [(ValueError("bad k"), "bad k"), (RuntimeError(""), "RuntimeError"),
                                       (OSError("disk full"), "OSError: disk full")])
def test_error_message(exc, text):
    assert error_message(exc) == text


def test_cancel_stops_the_work(qtbot):
    started = threading.Event()

    def work(progress, cancel):
        started.set()
        while True:  # stands for a long computation that checks cancel() as it goes
            if cancel():
                raise Cancelled()
            threading.Event().wait(0.005)

    task = run_task(work)
    ended = []
    task.ended.connect(lambda: ended.append(on_gui_thread()))
    assert started.wait(5)
    with qtbot.waitSignal(task.cancelled, timeout=5000):
        task.cancel()
    assert task.state == "cancelled" and ended == [True]


def test_finishing_after_cancel_counts_as_cancelled(qtbot):
    gate = threading.Event()

    def work(progress, cancel):
        gate.wait(5)
        return "ignored"  # e.g. PCA, which never checks cancel

    task = run_task(work)
    done = []
    task.done.connect(done.append)
    task.cancel()
    with qtbot.waitSignal(task.cancelled, timeout=5000):
        gate.set()
    assert done == []


def test_a_task_starts_only_once(qtbot):
    task = Task(lambda progress, cancel: 1)
    task.start()
    with pytest.raises(RuntimeError, match="already started"):
        task.start()
    qtbot.waitUntil(lambda: task.state == "done", timeout=5000)


def test_unreferenced_task_still_delivers(qtbot):
    results = []

    def start():
        run_task(lambda progress, cancel: "kept alive").done.connect(results.append)

    start()  # no reference kept by the caller: the registry holds it until it ends
    qtbot.waitUntil(lambda: results == ["kept alive"], timeout=5000)


def test_task_slot_ignores_a_superseded_task_and_stays_busy_until_it_ends(qtbot):
    from ui.tasks import TaskSlot
    release = threading.Event()
    results = []

    def slow(progress, cancel):
        release.wait(5)  # ignores cancel() for a while, as an uninterruptible call would
        return "old"

    slot = TaskSlot(name="test")
    first = slot.start(slow, done=results.append, cancelled=lambda: results.append("cancelled"))
    second = slot.start(lambda progress, cancel: "new", done=results.append)
    assert first.is_cancel_requested() and slot.current is second
    qtbot.waitUntil(lambda: results == ["new"], timeout=5000)
    assert not slot.is_running() and slot.is_busy()  # the first still owns its thread
    release.set()
    qtbot.waitUntil(lambda: not slot.is_busy(), timeout=5000)
    assert results == ["new"]  # the superseded task's end is never delivered


def test_task_slot_forget_drops_the_result(qtbot):
    from ui.tasks import TaskSlot
    results = []
    slot = TaskSlot(name="test")
    slot.start(lambda progress, cancel: 1, done=results.append)
    slot.forget()
    assert not slot.is_running()
    qtbot.waitUntil(lambda: not slot.is_busy(), timeout=5000)
    assert results == []


class InlineService:
    """Stands for the projection process: records what it is sent and answers from a thread."""

    def __init__(self):
        self.sent, self.cancelled = [], []

    def submit(self, fn, on_end, on_progress=None):
        import cloudpickle

        from workbench.projection_service import ServiceUnavailable

        try:
            copy = cloudpickle.loads(cloudpickle.dumps(fn))  # what really crosses: a copy of fn
        except TypeError as exc:
            raise ServiceUnavailable(str(exc)) from exc
        self.sent.append(copy)
        rid = len(self.sent)
        threading.Thread(target=lambda: on_end("done", copy(on_progress, lambda: False)), daemon=True).start()
        return rid

    def cancel(self, rid):
        self.cancelled.append(rid)


def test_a_task_slot_sends_its_work_to_the_projection_process(qtbot, monkeypatch):
    import ui.tasks as tasks

    service = InlineService()
    monkeypatch.setattr(tasks, "_service", service)
    results = []
    emb = np.arange(6.0)
    task = tasks.TaskSlot(None, "map").start(lambda progress, cancel: float(emb.sum()), done=results.append)
    assert task.in_process() and len(service.sent) == 1
    qtbot.waitUntil(lambda: results == [15.0], timeout=5000)
    lock = threading.Lock()  # work holding something that cannot be pickled runs on a thread here
    task = tasks.TaskSlot(None, "local").start(lambda progress, cancel: lock.locked(), done=results.append)
    assert not task.in_process() and len(service.sent) == 1
    qtbot.waitUntil(lambda: results == [15.0, False], timeout=5000)


@pytest.mark.slow
def test_the_app_service_runs_task_slot_work_in_another_process(qtbot):
    import os

    import ui.tasks as tasks

    service = tasks.start_projection_service(warm_up=False)
    try:
        results = []
        task = tasks.TaskSlot(None, "pid").start(lambda progress, cancel: os.getpid(), done=results.append)
        assert task.in_process()
        qtbot.waitUntil(lambda: bool(results), timeout=60000)
        assert results[0] == service.pid != os.getpid()
    finally:
        tasks.stop_projection_service()
    assert tasks.projection_service() is None
