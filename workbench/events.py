"""Worker events and commands: the one JSON-lines format shared by the worker, CLI and GUI."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import IO, Any, Iterator

EVENT_TYPES = ("started", "step", "epoch", "eval", "preview", "checkpoint", "embedding",
               "paused", "resumed", "finished", "failed", "log")
COMMANDS = ("pause", "resume", "stop", "snapshot", "preview")
EVENTS_FILE = "events.jsonl"


def make_event(type: str, step: int, epoch: int, **fields: Any) -> dict:
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    return {"type": type, "t": round(time.time(), 3), "step": int(step), "epoch": int(epoch), **fields}


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
    """Appends events to RUN_DIR/events.jsonl (the durable record) and optionally a stream."""

    def __init__(self, run_dir: Path, stream: IO[str] | None = None):
        self.path = Path(run_dir) / EVENTS_FILE
        self._file = open(self.path, "a", encoding="utf-8")
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
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:  # a damaged line is skipped like a malformed one
                continue
            event = decode(line)
            if event is not None:
                yield event
