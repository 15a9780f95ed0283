"""Tails RUN_DIR/events.jsonl of a run started elsewhere (CLI, another window, a detached worker)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from workbench.events import EVENTS_FILE, decode
from workbench.runs import RunStatus, worker_alive

POLL_MS = 250
CHUNK_BYTES = 1 << 20  # per tick, so replaying a long run never freezes the GUI
QUIET_SECONDS = 10.0   # no worker and no new lines for this long: the run has ended without a word


class RunFollower(QObject):
    """Emits `event(dict)` for each line of a run's events.jsonl, then for lines as they are appended.

    `finished()` fires once the run has ended: its last lifecycle event is finished/failed and no
    worker runs it, or its worker is gone and nothing was written for `quiet_seconds`.
    """

    event = Signal(dict)
    finished = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.quiet_seconds = QUIET_SECONDS
        self._run_dir: Path | None = None
        self._offset = 0
        self._partial = b""
        self._status = RunStatus.NEW  # of the run, from the events read so far
        self._last_change = 0.0      # monotonic time of the last new bytes
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    @property
    def run_dir(self) -> Path | None:
        return self._run_dir

    def is_following(self) -> bool:
        return self._timer.isActive()

    def follow(self, run_dir: Path, replay: bool = True) -> None:
        """Start following RUN_DIR; with replay, every event already written is emitted first."""
        self.stop()
        self._run_dir = Path(run_dir)
        self._partial, self._status = b"", RunStatus.NEW
        path = self._run_dir / EVENTS_FILE
        try:
            st = path.stat()
            self._offset = 0 if replay else st.st_size
            # Count the quiet time from the last write, so an old dead run ends right after replay.
            self._last_change = time.monotonic() - max(0.0, time.time() - st.st_mtime)
        except OSError:
            self._offset = 0  # not written yet: the worker is still starting
            self._last_change = time.monotonic()
        self._timer.start()
        self._poll()

    def stop(self) -> None:
        self._timer.stop()

    def _poll(self) -> None:
        if self._run_dir is None or not self._timer.isActive():
            return  # stopped while a read-on was queued
        data = self._read_new()
        if data:
            self._last_change = time.monotonic()
            lines = (self._partial + data).split(b"\n")
            self._partial = lines.pop()  # an incomplete last line waits for the rest
            for line in lines:
                self._emit_line(line)
            if len(data) == CHUNK_BYTES:
                QTimer.singleShot(0, self._poll)  # more is waiting: read on without a pause
                return
        if not self._timer.isActive():
            return  # a slot connected to `event` stopped us
        alive = worker_alive(self._run_dir)
        quiet = time.monotonic() - self._last_change >= self.quiet_seconds
        if (self._status.ended and not alive) or (not alive and quiet):
            self._timer.stop()
            self.finished.emit()

    def _read_new(self) -> bytes:
        path = self._run_dir / EVENTS_FILE
        try:
            size = path.stat().st_size
            if size < self._offset:  # the file was replaced: start over
                self._offset, self._partial = 0, b""
            if size == self._offset:
                return b""
            with open(path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read(CHUNK_BYTES)
        except OSError:
            return b""
        self._offset += len(data)
        return data

    def _emit_line(self, line: bytes) -> None:
        ev = decode(line.decode("utf-8", "replace"))
        if ev is None:
            return
        self._status = self._status.after(ev)  # a resumed run goes on after an earlier stop
        self.event.emit(ev)


if __name__ == "__main__":
    # Quick look: python -m ui.run_follower RUN_DIR — prints the run's events, then follows it.
    from PySide6.QtCore import QCoreApplication

    if len(sys.argv) != 2:
        sys.exit("usage: python -m ui.run_follower RUN_DIR")
    app = QCoreApplication(sys.argv)
    follower = RunFollower()
    follower.event.connect(lambda ev: print(f"[{ev['type']}] step {ev['step']} epoch {ev['epoch']}",
                                            flush=True))
    follower.finished.connect(lambda: (print("[run ended]"), app.quit()))
    follower.follow(Path(sys.argv[1]))
    sys.exit(app.exec())
