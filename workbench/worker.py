"""`python -m workbench.worker RUN_DIR`: run the trainer, stream events, obey stdin commands."""
from __future__ import annotations

import argparse
import queue
import signal
import sys
import threading
import traceback
from pathlib import Path

from .allocator import tune_allocator
from .checkpoint import CheckpointError
from .config import ConfigError
from .data import DataError
from .distributed import DiscardingWriter, DistContext, from_env
from .events import EventWriter, decode, make_event
from .priority import lower_priority
from .registry import UnknownMethod
from .rundir import RunDir, RunDirError
from .trainer import Trainer, TrainingFailed

USER_ERRORS = (ConfigError, DataError, UnknownMethod, CheckpointError)
REFUSALS = (RunDirError, CheckpointError)  # raised before any event: the run's record stays as it was


def read_commands(stream, commands: queue.Queue) -> None:
    """Feed JSON-line commands from stdin into the queue; end of input means nothing more."""
    for line in stream:
        cmd = decode(line)
        if cmd is not None:
            commands.put(cmd)


def run_worker(run_dir: Path, resume: bool = False, stream=None, commands: queue.Queue | None = None,
               listeners=(), dist: DistContext | None = None) -> int:
    """Run one run directory to completion; every outcome is an event. Returns the exit code.

    Raises RunDirError or CheckpointError, before writing anything, when the run must not be
    trained: not a run folder, links leading out of it, another worker holding its lock, or
    nothing to resume from.
    """
    run_dir = Path(run_dir)
    layout = RunDir(run_dir)
    if not layout.is_run():
        raise RunDirError(f"{run_dir} is not a run directory (no config.json)")
    layout.check_contained()
    lock = layout.acquire()  # held until this worker ends; the OS releases it if the process dies
    try:
        if resume and layout.resume_checkpoint() is None:
            raise CheckpointError(f"{run_dir} has no complete checkpoint to resume from; start it afresh")
        removed = layout.remove_stale_temps()
        if removed:
            print(f"removed {len(removed)} temporary file(s) an interrupted write left: {', '.join(removed)}",
                  file=sys.stderr)
        layout.write_pid()
        try:
            return _train(run_dir, resume, stream, commands, listeners, dist)
        finally:
            layout.pid_file.unlink(missing_ok=True)
    finally:
        lock.release()


def _train(run_dir: Path, resume: bool, stream, commands: queue.Queue | None, listeners,
           dist: DistContext | None) -> int:
    writer = EventWriter(run_dir, stream)
    writer.listeners.extend(listeners)
    commands = commands if commands is not None else queue.Queue()
    trainer = None
    try:
        trainer = Trainer(run_dir, writer, commands, resume=resume, dist=dist)
        return trainer.run()
    except USER_ERRORS as exc:
        writer.emit(_failed(trainer, str(exc)))
        return 2
    except TrainingFailed as exc:
        writer.emit(_failed(trainer, str(exc)))
        return exc.exit_code
    except KeyboardInterrupt:
        writer.emit(_failed(trainer, "interrupted"))
        return 130
    except MemoryError:
        writer.emit(_failed(trainer, "out of memory: try a smaller batch_size or backbone"))
        return 1
    except Exception as exc:  # a bug or an environment failure: say it, keep the details
        detail = traceback.format_exc()
        message = f"{type(exc).__name__}: {exc}"
        if "out of memory" in str(exc).lower():
            message = f"out of GPU memory ({exc}); try a smaller batch_size or backbone"
        writer.emit(_failed(trainer, message, detail=detail))
        return 1
    finally:
        writer.close()
        if dist is not None:
            trainer = None  # its DDP wrapper holds the process group that close() destroys
            dist.close()


def run_other_rank(run_dir: Path, resume: bool, dist: DistContext) -> int:
    """A rank other than 0 of a distributed run: it trains its shard and writes nothing to the
    run folder. A failure goes to stderr and torchrun's error file; the launcher (or rank 0)
    turns it into the run's `failed` event."""
    # Stop commands reach rank 0, which hands them to every rank at the same step.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        return Trainer(run_dir, DiscardingWriter(), queue.Queue(), resume=resume, dist=dist).run()
    except BaseException as exc:
        from torch.distributed.elastic.multiprocessing.errors import ErrorHandler
        ErrorHandler().record_exception(exc)
        print(f"rank {dist.rank}: {type(exc).__name__}: {exc}", file=sys.stderr)
        if isinstance(exc, TrainingFailed):
            return exc.exit_code
        return 2 if isinstance(exc, USER_ERRORS) else 1
    finally:
        dist.close()


def _failed(trainer: Trainer | None, message: str, **extra) -> dict:
    step = trainer.step if trainer else 0
    epoch = trainer.epoch if trainer else 0
    return make_event("failed", step, epoch, message=message, **extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workbench.worker",
        description="Train the run in RUN_DIR. Events go to stdout and RUN_DIR/events.jsonl as "
                    "JSON lines; commands (pause, resume, stop, snapshot, preview) are read "
                    "from stdin as JSON lines, e.g. {\"type\": \"stop\"}. SIGTERM means stop.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true",
                        help="continue from checkpoints/last.pt (or, if that is incomplete, the newest "
                             "complete checkpoint)")
    parser.add_argument("--nice", type=int, default=0, metavar="N",
                        help="lower this process's CPU priority by N (the GUI uses 10 to stay responsive)")
    args = parser.parse_args(argv)
    lower_priority(args.nice)
    tune_allocator()  # before the model and data allocate: steps reuse freed memory
    dist = from_env()  # torchrun's RANK / WORLD_SIZE / LOCAL_RANK; one process without them
    if not dist.is_main:
        return run_other_rank(args.run_dir, args.resume, dist)
    commands: queue.Queue = queue.Queue()
    signal.signal(signal.SIGTERM, lambda *_: commands.put({"type": "stop"}))
    threading.Thread(target=read_commands, args=(sys.stdin, commands), daemon=True).start()
    try:
        return run_worker(args.run_dir, resume=args.resume, stream=sys.stdout, commands=commands,
                          dist=dist)
    except REFUSALS as exc:
        print(f"error: {exc}", file=sys.stderr)  # the GUI's worker client shows this line
        return 2


if __name__ == "__main__":
    sys.exit(main())
