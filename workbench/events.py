"""Worker events and commands: the one JSON-lines format shared by the worker, CLI and GUI."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import IO, Any, Iterator

from .event_schema import EVENT_TYPES, check_event
from .rundir import EVENTS_FILE, RunDirError, open_append, open_read

COMMANDS = ("pause", "resume", "stop", "snapshot", "preview")
__all__ = ["EVENT_TYPES", "EVENTS_FILE", "COMMANDS", "make_event", "encode", "decode", "command",
           "EventWriter", "read_events", "check_event"]


def make_event(type: str, step: int, epoch: int, **fields: Any) -> dict:
    """An event of a documented type; its fields are checked against the schema (event_schema.py)."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    event = {"type": type, "t": round(time.time(), 3), "step": int(step), "epoch": int(epoch), **fields}
    problems = check_event(event)
    if problems:
        raise ValueError(f"{type} event does not match its schema: {'; '.join(problems)}")
    return event


def _clean(value: Any) -> Any:
    # JSON has no NaN/inf; a diverged loss must still be recorded, so spell it as a string.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def encode(message: dict) -> str:
    return json.dumps(_clean(message), separators=(",", ":"))


def decode(line: str) -> dict | None:
    """One JSON line to a dict; None for blank or malformed lines (e.g. a line cut by a crash)."""
    line = line.strip()
    if not line:
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) and "type" in obj else None


def command(name: str, **fields: Any) -> str:
    """A command line for the worker's stdin."""
    if name not in COMMANDS:
        raise ValueError(f"unknown command {name!r}; known: {', '.join(COMMANDS)}")
    return encode({"type": name, **fields}) + "\n"


class EventWriter:
    """Appends events to RUN_DIR/events.jsonl (the durable record) and optionally a stream.

    The file is opened without following a symlink, and a last line cut short by a crash is
    completed first, so the next event is never glued onto it."""

    def __init__(self, run_dir: Path, stream: IO[str] | None = None):
        self.path = Path(run_dir) / EVENTS_FILE
        self._file = open_append(self.path)
        self._stream = stream
        self.listeners: list = []

    def emit(self, message: dict) -> None:
        line = encode(message)
        self._file.write(line + "\n")
        self._file.flush()
        if self._stream is not None:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                # The reader went away (GUI closed); the file record goes on.
                self._stream = None
        for listener in self.listeners:
            listener(message)

    def close(self) -> None:
        self._file.close()


def read_events(run_dir: Path) -> Iterator[dict]:
    path = Path(run_dir) / EVENTS_FILE
    if not path.exists():
        return
    try:
        fh = open_read(path, binary=True)  # a FIFO or device named events.jsonl would block or never end
    except RunDirError:
        return
    with fh:
        for raw in fh:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:  # a damaged line is skipped like a malformed one
                continue
            event = decode(line)
            if event is not None:
                yield event
