"""A run folder's layout, and the only ways the workbench writes into one: safely and under a lock."""
from __future__ import annotations

import errno
import os
import stat
import zipfile
from pathlib import Path

CONFIG_FILE = "config.json"
EVENTS_FILE = "events.jsonl"
CHECKPOINTS = "checkpoints"
PREVIEWS = "previews"
EMBEDDINGS = "embeddings"
PID_FILE = "worker.pid"    # information only: which process trains the run (the lock is the truth)
LOCK_FILE = "worker.lock"  # held (flock / msvcrt) by the worker for its whole life
LAST = "last.pt"
BEST = "best.pt"
TMP_MARK = ".tmp-"         # temporary files are ".NAME.tmp-PID", renamed into place when complete

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
LOCK_WAIT_SECONDS = 2.0    # a worker retries this long: a status probe holds the lock for microseconds


class RunDirError(RuntimeError):
    """A run folder the workbench must not write into (links out of it, or another worker on it)."""


def temp_name(path: Path) -> Path:
    """Where `path` is written before it is renamed into place: ".NAME.tmp-PID" beside it."""
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")


def create_exclusive(path: Path) -> int:
    """A new file opened for writing, never an existing one and never through a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY
    try:
        return os.open(path, flags, 0o644)
    except FileExistsError:
        # A leftover (or planted) temp file: unlinking removes the link itself, never its target.
        os.unlink(path)
        return os.open(path, flags, 0o644)


def write_atomic(path: Path, data: bytes | None = None, write=None, durable: bool = True) -> Path:
    """Write `path` so that it is the old file or the complete new one; a symlink there is replaced,
    never followed. Give the bytes, or `write(fileobj)` to stream them. `durable` fsyncs before
    the rename (checkpoints, config); previews and snapshots can do without."""
    path = Path(path)
    tmp = temp_name(path)
    fd = create_exclusive(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            if data is not None:
                fh.write(data)
            if write is not None:
                write(fh)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def open_append(path: Path):
    """`path` opened for appending text, without following a symlink, refusing anything but a
    plain file with one link, and with a line cut short by a crash completed first."""
    path = Path(path)
    # Read-write so the last byte can be checked; non-blocking so a FIFO there cannot hang us.
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC | _BINARY
    flags |= getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK, errno.ENXIO):
            raise RunDirError(f"{path} is not a plain file (a symbolic link or a pipe); "
                              f"events are written only to the run folder's own file") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RunDirError(f"{path} is not a plain file; events are written only to a regular file")
        if st.st_nlink > 1:
            raise RunDirError(f"{path} has {st.st_nlink} hard links: appending to it would change the "
                              f"other copies too; copy the run folder instead of linking it")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        if st.st_size:
            os.lseek(fd, -1, os.SEEK_END)
            if os.read(fd, 1) != b"\n":
                os.write(fd, b"\n")  # a line cut by a crash: the next event starts its own
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "a", encoding="utf-8")


_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def open_regular(path: Path, flags: int = os.O_RDONLY, follow: bool = True) -> int:
    """A file descriptor for `path` if it is a regular file; a FIFO or device there (which could
    block a reader forever or never end) raises RunDirError instead."""
    fd = os.open(path, flags | _NONBLOCK | _CLOEXEC | (0 if follow else _NOFOLLOW), 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RunDirError(f"{path} is not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_read(path: Path, binary: bool = False):
    """`path` opened for reading (text, or bytes with binary=True), refusing anything but a
    regular file."""
    if binary:
        return os.fdopen(open_regular(path), "rb")
    return os.fdopen(open_regular(path), encoding="utf-8")


def _read_small(path: Path) -> str:
    fd = open_regular(path, follow=False)
    try:
        return os.read(fd, 64).decode("ascii", "replace")
    finally:
        os.close(fd)


def is_complete(checkpoint: Path) -> bool:
    """Whether a checkpoint file is whole: a regular file (not a link) whose zip directory, which
    torch.save writes last, is there. A write cut short by a kill or a full disk fails this.
    Plain zipfile, no torch: the GUI asks this too."""
    try:
        if not stat.S_ISREG(Path(checkpoint).lstat().st_mode):
            return False
        with zipfile.ZipFile(checkpoint) as zf:
            return any(name.endswith("data.pkl") for name in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


class RunLock:
    """The exclusive lock a worker holds on its run folder; released by `release()` or at exit."""

    def __init__(self, fd: int):
        self._fd: int | None = fd

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        if self._fd is not None:
            _unlock(self._fd)
            os.close(self._fd)
            self._fd = None


if os.name == "nt":
    import msvcrt

    def _try_lock(fd: int, shared: bool = False) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
else:
    import fcntl

    def _try_lock(fd: int, shared: bool = False) -> bool:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class RunDir:
    """Where each part of a run lives, and the checks and writes that keep the workbench inside it."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # --- layout -----------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def events(self) -> Path:
        return self.path / EVENTS_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def previews(self) -> Path:
        return self.path / PREVIEWS

    @property
    def embeddings(self) -> Path:
        return self.path / EMBEDDINGS

    @property
    def pid_file(self) -> Path:
        return self.path / PID_FILE

    @property
    def lock_file(self) -> Path:
        return self.path / LOCK_FILE

    @property
    def last(self) -> Path:
        return self.checkpoint(LAST)

    @property
    def best(self) -> Path:
        return self.checkpoint(BEST)

    def checkpoint(self, name: str) -> Path:
        """checkpoints/NAME ("last", "best" and "step-N" may leave out the ".pt")."""
        return self.checkpoints / (name if name.endswith(".pt") else f"{name}.pt")

    @staticmethod
    def step_checkpoint_name(step: int) -> str:
        return f"step-{step}.pt"

    def checkpoint_names(self) -> list[str]:
        """The checkpoint files there are (no temporary ones), sorted by name."""
        try:
            return sorted(p.name for p in self.checkpoints.glob("*.pt") if not p.name.startswith("."))
        except OSError:
            return []

    def step_checkpoints(self) -> list[Path]:
        """checkpoints/step-N.pt, newest (highest N) first."""
        found = []
        for name in self.checkpoint_names():
            stem = name[len("step-"):-len(".pt")] if name.startswith("step-") else ""
            if stem.isdigit():
                found.append((int(stem), self.checkpoints / name))
        return [p for _, p in sorted(found, reverse=True)]

    def preview(self, step: int, name: str) -> str:
        """The run-relative path of a preview image (events carry these)."""
        return f"{PREVIEWS}/{step:08d}-{name}.png"

    def snapshot(self, step: int) -> str:
        """The run-relative path of a probe-set embedding snapshot."""
        return f"{EMBEDDINGS}/{step:08d}.npz"

    def rel(self, path: Path) -> str:
        return Path(path).relative_to(self.path).as_posix()

    def is_run(self) -> bool:
        return self.config.is_file()

    # --- resuming ---------------------------------------------------------------------------
    def resume_checkpoint(self) -> Path | None:
        """last.pt when it is complete, else the newest complete best.pt or step-N.pt, else None."""
        if is_complete(self.last):
            return self.last
        fallbacks = [p for p in (self.best, *self.step_checkpoints()) if is_complete(p)]
        return max(fallbacks, key=lambda p: p.stat().st_mtime, default=None)

    def remove_stale_temps(self) -> list[str]:
        """Delete ".NAME.tmp-PID" files a killed writer left (call only while holding the lock)."""
        removed = []
        # In the folder itself only the worker's own temp files: an export may be writing there now.
        own = tuple(f".{name}{TMP_MARK}" for name in (CONFIG_FILE, PID_FILE))
        for folder in (self.path, self.checkpoints, self.previews, self.embeddings):
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                ours = entry.name.startswith(own) if folder == self.path else entry.name.startswith(".")
                if ours and TMP_MARK in entry.name and not entry.is_dir(follow_symlinks=False):
                    try:
                        os.unlink(entry.path)  # a symlink goes, its target stays
                        removed.append(self.rel(Path(entry.path)))
                    except OSError:
                        pass
        return removed

    # --- safety -----------------------------------------------------------------------------
    def check_contained(self) -> None:
        """Refuse a run folder whose files or sub-folders are symbolic links leading out of it."""
        root = self.path.resolve()
        names = (CONFIG_FILE, EVENTS_FILE, PID_FILE, LOCK_FILE, CHECKPOINTS, PREVIEWS, EMBEDDINGS)
        candidates = [self.path / n for n in names]
        for sub in (self.checkpoints, self.previews, self.embeddings):
            if sub.is_dir() and not sub.is_symlink():
                try:
                    candidates += [Path(e.path) for e in os.scandir(sub) if e.is_symlink()]
                except OSError:
                    pass
        for path in candidates:
            if not path.is_symlink():
                continue
            target = Path(os.path.realpath(path))
            if target != root and root not in target.parents:
                raise RunDirError(
                    f"{path} is a symbolic link to {target}, outside the run folder; the workbench "
                    f"writes only into a run folder's own files (replace the link with a copy)")
            if path.name in (EVENTS_FILE, PID_FILE, LOCK_FILE, CHECKPOINTS, PREVIEWS, EMBEDDINGS):
                raise RunDirError(f"{path} is a symbolic link (to {target}); the workbench writes only "
                                  f"into a run folder's own files and folders")

    # --- the worker's lock ------------------------------------------------------------------
    def _open_lock(self, create: bool) -> int:
        try:
            return open_regular(self.lock_file, os.O_RDWR | os.O_CREAT if create else os.O_RDONLY, follow=False)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RunDirError(f"{self.lock_file} is a symbolic link; delete it") from None
            raise

    def acquire(self, wait: float = LOCK_WAIT_SECONDS) -> RunLock:
        """Take the run's exclusive lock, or raise RunDirError naming the process that holds it."""
        import time
        fd = self._open_lock(create=True)
        deadline = time.monotonic() + wait
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                os.close(fd)
                raise RunDirError(self.busy_message())
            time.sleep(0.05)
        return RunLock(fd)

    def is_locked(self) -> bool:
        """Whether a worker holds the run's lock now (a dead worker's lock is released by the OS)."""
        try:
            fd = self._open_lock(create=False)
        except (OSError, RunDirError):
            return False
        try:
            if not _try_lock(fd, shared=True):
                return True
            _unlock(fd)
            return False
        finally:
            os.close(fd)

    def worker_pid(self) -> int | None:
        """The pid the last worker wrote (information only: it may be stale or reused)."""
        try:
            pid = int(_read_small(self.pid_file).strip())
        except (OSError, ValueError, RunDirError):
            return None
        return pid if pid > 0 else None

    def write_pid(self) -> None:
        write_atomic(self.pid_file, f"{os.getpid()}\n".encode())

    def busy_message(self) -> str:
        pid = self.worker_pid()
        who = f"process {pid}" if pid else "another process"
        return (f"run {self.path} is being trained by {who}; stop it first, or if no such process "
                f"exists delete {self.lock_file}")
