"""workbench.projection_service: maps in a helper process give the in-process results, cancel, restart when dead."""
from __future__ import annotations

import os
import queue
import threading
import time

import cloudpickle
import numpy as np
import pytest

from workbench.embeddings import Cancelled, ReferenceMap, project
from workbench.projection_service import Call, ProjectionService, ServiceUnavailable, _serve, run_inline


def points(n=120, d=12, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def test_call_names_the_same_functions_the_cli_runs():
    x = points()
    np.testing.assert_array_equal(run_inline("layout", x, "pca", seed=3), project(x, "pca", seed=3))
    with pytest.raises(ValueError, match="unknown operation"):
        Call("nope")


class InThread:
    """The helper process's main loop on a thread, with plain queues: its protocol without spawning."""

    def __init__(self):
        self.requests, self.replies = queue.Queue(), queue.Queue()
        self.thread = threading.Thread(target=_serve, args=(self.requests, self.replies, False, 2), daemon=True)
        self.thread.start()
        assert self.replies.get(timeout=30)[0] == "ready"

    def run(self, rid, fn):
        self.requests.put(("run", rid, cloudpickle.dumps(fn)))

    def end_of(self, rid, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            kind, got, body = self.replies.get(timeout=timeout)
            if got == rid and kind != "progress":
                return kind, cloudpickle.loads(body)
        raise AssertionError("no end")

    def close(self):
        self.requests.put(None)
        self.thread.join(5)


def test_the_serve_loop_answers_cancels_and_reports_failures(tmp_path):
    serve = InThread()
    try:
        x = points()
        serve.run(1, Call("layout", (x, "pca")))
        kind, xy = serve.end_of(1)
        assert kind == "done"
        np.testing.assert_array_equal(xy, project(x, "pca"))

        flag = tmp_path / "started"

        def spin(progress, cancel):
            flag.touch()
            while not cancel():
                time.sleep(0.005)
            raise Cancelled()

        serve.run(2, spin)
        assert _wait(flag.exists, 10)
        serve.requests.put(("cancel", 2, None))
        assert serve.end_of(2)[0] == "cancelled"

        serve.run(3, Call("layout", (x, "nope")))  # bad input: a message, the loop lives on
        kind, (message, _) = serve.end_of(3)
        assert kind == "failed" and message
        serve.run(4, Call("layout", (x, "pca")))
        assert serve.end_of(4)[0] == "done"
    finally:
        serve.close()


def test_an_unpicklable_request_is_refused_so_the_caller_runs_it_itself():
    service = ProjectionService(warm_up=False)
    lock = threading.Lock()
    with pytest.raises(ServiceUnavailable):
        service.submit(lambda progress, cancel: lock, on_end=print)
    with pytest.raises(ServiceUnavailable, match="not running"):
        service.submit(lambda progress, cancel: 1, on_end=print)


@pytest.fixture
def service():
    s = ProjectionService(warm_up=False, cancel_grace=1.0).start()
    yield s
    s.stop()


@pytest.mark.slow
def test_the_process_gives_the_in_process_pca_and_umap(service):
    x = points(150)
    assert service.pid != os.getpid()
    np.testing.assert_allclose(service.call(Call("layout", (x, "pca", 1)), timeout=120), project(x, "pca", 1))
    ref, xy = service.call(Call("project", (x, "umap", 0)), timeout=300)
    np.testing.assert_allclose(xy, project(x, "umap", 0), atol=1e-4)
    assert isinstance(ref, ReferenceMap)


def _wait(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_cancel_stops_a_request_even_one_that_never_looks(service):
    ends = {}

    def polite(progress, cancel):
        while not cancel():
            time.sleep(0.01)
        raise Cancelled()

    def deaf(progress, cancel):  # stands for UMAP's compiled kernels: never checks cancel
        time.sleep(600)

    a = service.submit(polite, lambda kind, body: ends.setdefault("polite", kind))
    b = service.submit(deaf, lambda kind, body: ends.setdefault("deaf", kind))
    time.sleep(1.0)
    service.cancel(a)
    assert _wait(lambda: "polite" in ends, 30) and ends["polite"] == "cancelled"
    assert service.restarts == 0
    pid = service.pid
    service.cancel(b)
    assert _wait(lambda: "deaf" in ends, 60) and ends["deaf"] == "cancelled"
    assert service.restarts == 1 and service.pid != pid and service.is_alive()
    assert service.call(Call("layout", (points(), "pca")), timeout=120).shape == (120, 2)


@pytest.mark.slow
def test_a_dead_process_is_restarted_and_says_so(service):
    said, ends = [], []
    service.on_restart = said.append

    def die(progress, cancel):
        os._exit(3)

    service.submit(die, lambda kind, body: ends.append((kind, body)))
    assert _wait(lambda: ends, 60)
    kind, (message, _) = ends[0]
    assert kind == "failed" and "stopped unexpectedly" in message and "restarted" in message
    assert service.restarts == 1 and said and "exit code 3" in said[0]
    assert service.call(Call("layout", (points(), "pca")), timeout=120).shape == (120, 2)
