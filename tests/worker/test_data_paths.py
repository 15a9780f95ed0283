"""The two data paths: the same run trains identically in memory and streamed from the cache,
auto picks by the stated rule, and the started event names the path taken."""
from __future__ import annotations

import threading

import pytest
import torch
from PIL import Image

from workbench.checkpoint import load_checkpoint
from workbench.config import ConfigError, RunConfig, apply_overrides
from workbench.data import load_dataset
from workbench.data import stream
from workbench.data.stream import MemorySource, StreamSource, batch_source, choose_data_path
from workbench.events import read_events
from workbench.worker import run_worker


pytestmark = pytest.mark.slow  # trains runs in worker processes


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_WORKBENCH_CACHE", str(tmp_path / "cache"))
    g = torch.Generator().manual_seed(0)
    for c in ("a", "b"):
        for i in range(24):
            pixels = torch.randint(0, 255, (20, 20, 3), generator=g, dtype=torch.uint8).numpy()
            (tmp_path / "imgs" / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(tmp_path / "imgs" / c / f"{i}.png")
    return tmp_path / "imgs"


def _losses(run_dir):
    return [e["loss"] for e in read_events(run_dir) if e["type"] == "epoch"]


def test_memory_and_stream_paths_train_identically(make_run, folder):
    runs = {}
    for path in ("memory", "stream"):
        run_dir = make_run(method="simclr", dataset="folder", data_root=str(folder), image_size=16,
                           epochs=2, batch_size=8, seed=3, data_path=path)
        assert run_worker(run_dir) == 0
        started = next(e for e in read_events(run_dir) if e["type"] == "started")
        assert started["data_path"] == path
        runs[path] = run_dir
    assert _losses(runs["stream"]) == pytest.approx(_losses(runs["memory"]), rel=1e-6)
    a = load_checkpoint(runs["memory"] / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(runs["stream"] / "checkpoints" / "last.pt")["model"]
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key


def test_auto_follows_the_rule(folder, monkeypatch):
    ds = load_dataset("folder", root=str(folder), image_size=16)
    cpu = torch.device("cpu")
    assert choose_data_path("auto", ds.x_train, cpu) == "memory"  # 38 images: fits easily
    assert isinstance(batch_source(ds, "auto", cpu), MemorySource)
    monkeypatch.setattr(stream, "MEMORY_MAX_BYTES", ds.x_train.nbytes)  # not strictly below: stream
    assert choose_data_path("auto", ds.x_train, cpu) == "stream"
    monkeypatch.setattr(stream, "MEMORY_MAX_BYTES", 2 * 2**30)
    monkeypatch.setattr(stream, "available_ram", lambda: 4 * ds.x_train.nbytes)  # 25 % of RAM: stream
    assert choose_data_path("auto", ds.x_train, cpu) == "stream"
    assert choose_data_path("memory", ds.x_train, cpu) == "memory"


def test_auto_streams_a_large_split_in_a_real_run(make_run, folder, monkeypatch):
    monkeypatch.setattr(stream, "MEMORY_MAX_BYTES", 1)
    run_dir = make_run(method="rotation", dataset="folder", data_root=str(folder), image_size=16,
                       epochs=1, batch_size=8)
    assert run_worker(run_dir) == 0
    events = list(read_events(run_dir))
    assert next(e for e in events if e["type"] == "started")["data_path"] == "stream"
    assert events[-1]["type"] == "finished"


def test_embedded_data_can_be_streamed_too(make_run):
    run_dir = make_run(method="rotation", dataset="digits", epochs=1, data_path="stream")
    assert run_worker(run_dir) == 0
    assert next(e for e in read_events(run_dir) if e["type"] == "started")["data_path"] == "stream"


def test_stopping_mid_epoch_ends_the_prefetch_thread(folder):
    ds = load_dataset("folder", root=str(folder), image_size=16)
    source = StreamSource(ds, torch.device("cpu"), prefetch=2)
    feed = source.epoch(torch.randperm(len(ds.x_train)), 4, 0, 9)
    first = next(feed)
    assert first.x.shape == (4, 3, 16, 16) and first.x.dtype == torch.float32
    assert torch.equal(first.y, ds.y_train[first.index])
    assert any(t.name == "batch-prefetch" for t in threading.enumerate())
    feed.close()
    assert not any(t.name == "batch-prefetch" for t in threading.enumerate())


def test_a_read_error_in_the_prefetcher_reaches_training(folder):
    ds = load_dataset("folder", root=str(folder), image_size=16)
    ds.x_train.store.read = lambda rows, out=None: (_ for _ in ()).throw(OSError("disk gone"))
    feed = StreamSource(ds, torch.device("cpu")).epoch(torch.arange(len(ds.x_train)), 4, 0, 3)
    with pytest.raises(OSError, match="disk gone"):
        next(feed)


def test_data_path_is_a_run_setting():
    run = apply_overrides(RunConfig(), object_config(), ["data_path=stream"])
    assert run.data_path == "stream" and RunConfig().data_path == "auto"
    with pytest.raises(ConfigError, match="data_path"):
        from workbench.config import validate
        run.data_path = "disk"
        validate(run)


def object_config():
    from dataclasses import dataclass

    @dataclass
    class Config:
        pass

    return Config


def test_a_stop_while_the_cache_is_built_cancels_it(make_run, folder, tmp_path):
    import queue

    commands = queue.Queue()
    commands.put({"type": "stop"})
    run_dir = make_run(method="rotation", dataset="folder", data_root=str(folder), image_size=24)
    assert run_worker(run_dir, commands=commands) == 2
    last = list(read_events(run_dir))[-1]
    assert last["type"] == "failed" and "stopped while building the image cache" in last["message"]
    assert not any((tmp_path / "cache").glob("folder-*"))  # nothing half-built is left
