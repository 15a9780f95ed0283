"""Tests of workbench.checkpoint: atomic save, safe (weights_only) load and its refusals."""
from __future__ import annotations

import pickle
import random
import warnings

import pytest
import torch

from workbench.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


class Payload:
    """An arbitrary Python object: loading it would need to import and run code."""

    def __init__(self):
        self.value = 42


def _state():
    return {"model": {"w": torch.randn(3, 4), "b": torch.arange(3)},
            "optimizer": {"state": {0: {"exp_avg": torch.zeros(2)}}, "param_groups": [{"lr": 0.1}]},
            "step": 17, "epoch": 2, "loss": 0.25, "method": "simclr",
            "rng": {"torch": torch.get_rng_state()}, "history": [1, 2.5, "x"]}


def test_round_trip(tmp_path):
    state = _state()
    path = save_checkpoint(state, tmp_path / "sub" / "last.pt")
    assert path == tmp_path / "sub" / "last.pt" and path.is_file()
    loaded = load_checkpoint(path)
    assert set(loaded) == set(state)
    assert torch.equal(loaded["model"]["w"], state["model"]["w"])
    assert torch.equal(loaded["model"]["b"], state["model"]["b"])
    assert torch.equal(loaded["optimizer"]["state"][0]["exp_avg"], torch.zeros(2))
    assert loaded["optimizer"]["param_groups"] == [{"lr": 0.1}]
    assert torch.equal(loaded["rng"]["torch"], state["rng"]["torch"])
    assert (loaded["step"], loaded["epoch"], loaded["loss"], loaded["method"]) == (17, 2, 0.25, "simclr")
    assert loaded["history"] == [1, 2.5, "x"]
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left behind


def test_overwrite_replaces(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {}, "step": 1}, path)
    save_checkpoint({"model": {}, "step": 2}, path)
    assert load_checkpoint(path)["step"] == 2


def test_failed_save_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {}, "step": 1}, path)
    before = path.read_bytes()

    def half_save(obj, f, *a, **kw):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise RuntimeError("disk went away midway")

    monkeypatch.setattr(torch, "save", half_save)
    with pytest.raises((RuntimeError, CheckpointError)):
        save_checkpoint({"model": {}, "step": 2}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_failed_save_with_oserror_is_checkpoint_error(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"

    def full_disk(obj, f, *a, **kw):
        f.write(b"xx")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match="last.pt: no space left on device"):
        save_checkpoint({"model": {}}, path)
    assert list(tmp_path.iterdir()) == []


def test_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "x": Payload()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)


def test_plain_pickle_of_object_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"model": Payload()}, fh)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about the pickle protocol
        with pytest.raises(CheckpointError, match="refused"):
            load_checkpoint(path)


def _random_bytes(seed: int, n: int = 200) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.getrandbits(8) for _ in range(n))


@pytest.mark.parametrize("data", [_random_bytes(0), _random_bytes(1), b"", b"PK\x03\x04garbage"],
                         ids=["random0", "random1", "empty", "zip-magic"])
def test_garbage_is_checkpoint_error(tmp_path, data):
    path = tmp_path / "bad.pt"
    path.write_bytes(data)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


@pytest.mark.parametrize("data", [_random_bytes(7), b"hello world this is text\n" * 10],
                         ids=["random7-IndexError", "text-KeyError"])
def test_garbage_that_trips_torch_load_is_checkpoint_error(tmp_path, data):
    path = tmp_path / "bad.pt"
    path.write_bytes(data)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_truncated_checkpoint_is_checkpoint_error(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {"w": torch.randn(64, 64)}}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")


def test_directory_is_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("state", [{"weights": {}}, [1, 2], torch.zeros(3)], ids=["no-model", "list", "tensor"])
def test_not_a_workbench_checkpoint(tmp_path, state):
    path = tmp_path / "x.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="not a workbench checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("data", [_random_bytes(0), _random_bytes(3), _random_bytes(7), b"hello world\n" * 10],
                         ids=["random0-UnpicklingError", "random3-UnpicklingError", "random7-IndexError", "text"])
def test_random_bytes_are_not_a_checkpoint_not_python_objects(tmp_path, data):
    # torch raises UnpicklingError for garbage as for forbidden globals: the wording must differ
    path = tmp_path / "noise.pt"
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert "not a checkpoint" in str(err.value)
    assert "Python objects" not in str(err.value) and "refused" not in str(err.value)


def test_empty_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty: not a checkpoint"):
        load_checkpoint(path)


def test_torch_file_with_objects_still_says_python_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "x": Payload()}, path)
    with pytest.raises(CheckpointError, match="holds Python objects"):
        load_checkpoint(path)
