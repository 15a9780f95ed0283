"""Tests of workbench.events: the JSON-lines event/command format and the EventWriter."""
from __future__ import annotations

import io
import json
import math

import pytest

from workbench.event_schema import SCHEMAS, check_event
from workbench.events import (COMMANDS, EVENTS_FILE, EventWriter, command, decode, encode,
                              make_event, read_events)
from workbench.rundir import RunDirError

STARTED = dict(method="rotation", title="Rotation", dataset="digits", device="cpu", steps_per_epoch=2,
               total_steps=4, epochs=2, batch_size=8, parameters=10, train_size=16, test_size=8, resumed=False)


def _step(step: int, loss: float = 1.0) -> dict:
    return make_event("step", step, 0, loss=loss, lr=1e-3, img_s=10.0, logs={}, progress=step / 10)


def test_encode_decode_round_trip():
    ev = make_event("step", 12, 3, loss=0.5, lr=1e-3, img_s=5.0, progress=0.5, logs={"acc": 0.25},
                    path="previews/1-x.png")
    line = encode(ev)
    assert "\n" not in line
    assert decode(line) == ev
    assert ev["type"] == "step" and ev["step"] == 12 and ev["epoch"] == 3 and isinstance(ev["t"], float)


def test_make_event_rejects_unknown_type():
    with pytest.raises(ValueError, match="unknown event type"):
        make_event("exploded", 0, 0)


def test_nan_and_inf_are_encoded_as_strings():
    line = encode({"type": "step", "loss": float("nan"), "hi": float("inf"), "lo": float("-inf"),
                   "nested": {"v": [1.0, float("nan")]}})
    # strict JSON: no bare NaN / Infinity tokens
    obj = json.loads(line, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert obj["loss"] == "nan" and obj["hi"] == "inf" and obj["lo"] == "-inf"
    assert obj["nested"]["v"][0] == 1.0 and obj["nested"]["v"][1] == "nan"
    assert math.isnan(float(obj["loss"]))


@pytest.mark.parametrize("line", ["", "   ", "\n", "garbage", '{"type": "step", "t": 1', "[1, 2]",
                                  "42", '"step"', "null", '{"step": 1}'])
def test_decode_returns_none_for_bad_lines(line):
    assert decode(line) is None


def test_decode_strips_whitespace():
    assert decode('  {"type": "log", "message": "hi"}\n') == {"type": "log", "message": "hi"}


@pytest.mark.parametrize("name", COMMANDS)
def test_command_known(name):
    line = command(name, reason="test")
    assert line.endswith("\n") and line.count("\n") == 1
    assert decode(line) == {"type": name, "reason": "test"}


def test_command_rejects_unknown():
    with pytest.raises(ValueError) as err:
        command("explode")
    assert "explode" in str(err.value) and "pause" in str(err.value)


def test_event_writer_appends_to_file_stream_and_listeners(tmp_path):
    (tmp_path / EVENTS_FILE).write_text(encode({"type": "log", "message": "earlier"}) + "\n")
    stream = io.StringIO()
    seen = []
    writer = EventWriter(tmp_path, stream=stream)
    writer.listeners.append(seen.append)
    first, second = make_event("started", 0, 0, **STARTED), _step(1, 2.0)
    writer.emit(first)
    writer.emit(second)
    # the file is flushed after each event, so readers see it before close
    lines = (tmp_path / EVENTS_FILE).read_text().splitlines()
    assert [decode(l)["type"] for l in lines] == ["log", "started", "step"]
    writer.close()
    assert [decode(l) for l in stream.getvalue().splitlines()] == [first, second]
    assert seen == [first, second]


class BrokenStream(io.StringIO):
    def __init__(self):
        super().__init__()
        self.writes = 0

    def write(self, s):
        self.writes += 1
        raise BrokenPipeError(32, "Broken pipe")


def test_broken_stream_does_not_stop_file_writing(tmp_path):
    stream = BrokenStream()
    seen = []
    writer = EventWriter(tmp_path, stream=stream)
    writer.listeners.append(seen.append)
    for i in range(3):
        writer.emit(_step(i))
    writer.close()
    assert [e["step"] for e in read_events(tmp_path)] == [0, 1, 2]
    assert len(seen) == 3
    assert stream.writes == 1  # the dead stream is dropped, not retried on every event


def test_read_events_skips_truncated_last_line(tmp_path):
    good = [make_event("started", 0, 0, **STARTED), _step(5, 1.5)]
    text = "".join(encode(e) + "\n" for e in good) + "\n" + '{"type":"step","step":6,"lo'
    (tmp_path / EVENTS_FILE).write_text(text)
    assert list(read_events(tmp_path)) == good


def test_read_events_missing_file(tmp_path):
    assert list(read_events(tmp_path)) == []


# --- the schema ------------------------------------------------------------------------------
def test_make_event_checks_the_schema():
    with pytest.raises(ValueError, match="missing 'message'"):
        make_event("failed", 3, 0)
    with pytest.raises(ValueError, match="'stopped' is str"):
        make_event("finished", 3, 0, stopped="yes", message="m", seconds=1.0)
    with pytest.raises(ValueError, match="'n' is float, not int"):
        make_event("embedding", 3, 0, path="embeddings/x.npz", n=2.5, dim=4)
    # optional fields may be absent, extra fields are allowed, numbers may be ints or spelled NaN
    assert check_event(make_event("eval", 1, 0)) == []
    assert check_event({**_step(1), "gpu_util": 0.5, "loss": "nan", "lr": 1}) == []


def test_every_event_type_has_a_schema():
    from workbench.events import EVENT_TYPES
    assert set(EVENT_TYPES) == set(SCHEMAS)
    assert check_event({"type": "exploded", "t": 0.0, "step": 0, "epoch": 0}) == ["unknown event type 'exploded'"]


# --- the file, written safely -------------------------------------------------------------------
def test_a_cut_last_line_is_completed_before_appending(tmp_path):
    """kill -9 mid-line: the next `started` used to be glued onto the cut line and lost."""
    (tmp_path / EVENTS_FILE).write_text(encode(_step(1)) + "\n" + '{"type":"step","step":2,"lo')
    writer = EventWriter(tmp_path)
    writer.emit(make_event("started", 2, 0, **{**STARTED, "resumed": True}))
    writer.close()
    assert [e["type"] for e in read_events(tmp_path)] == ["step", "started"]


def test_a_symlinked_events_file_is_refused_and_its_target_untouched(tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / EVENTS_FILE).symlink_to(outside)
    with pytest.raises(RunDirError, match="symbolic link"):
        EventWriter(run)
    assert outside.read_text() == "keep me\n"


def test_a_hard_linked_events_file_is_refused(tmp_path):
    other = tmp_path / "other.jsonl"
    other.write_text("")
    run = tmp_path / "run"
    run.mkdir()
    (run / EVENTS_FILE).hardlink_to(other)
    with pytest.raises(RunDirError, match="2 hard links"):
        EventWriter(run)
    assert other.read_text() == ""
