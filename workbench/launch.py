"""`python -m workbench.launch RUN_DIR --nproc N`: train a run on N local processes through
torch.distributed.run; a rank that dies ends the run with a `failed` event naming it."""
from __future__ import annotations

import argparse
import ctypes
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .events import EventWriter, make_event, read_events
from .priority import lower_priority


def worker_command(run_dir: Path, processes: int = 1, resume: bool = False, nice: int = 0) -> list[str]:
    """The arguments after `python` that train RUN_DIR: the worker itself for one process,
    this launcher for several. The CLI and the GUI start runs with it."""
    module = "workbench.worker" if processes <= 1 else "workbench.launch"
    args = ["-m", module, str(run_dir)]
    if processes > 1:
        args += ["--nproc", str(processes)]
    if nice > 0:
        args += ["--nice", str(nice)]
    return args + (["--resume"] if resume else [])


@contextmanager
def nvml_session() -> Iterator[object | None]:
    """The driver's NVML library (ctypes), initialised for the block and shut down after it;
    None where there is no NVIDIA driver. Torch-free: the GUI asks before torch loads."""
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
        ready = nvml.nvmlInit_v2() == 0
    except (OSError, AttributeError):
        nvml, ready = None, False
    if not ready:
        yield None
        return
    try:
        yield nvml
    finally:
        nvml.nvmlShutdown()


def gpu_count() -> int:
    """How many CUDA GPUs this machine offers, without importing torch (the GUI asks): the
    driver's NVML library, narrowed by CUDA_VISIBLE_DEVICES; 0 without a driver."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    count = ctypes.c_uint(0)
    with nvml_session() as nvml:
        if nvml is None or nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0:
            return 0
    if visible is not None:
        ids = [v for v in visible.split(",") if v.strip() and v.strip() != "-1"]
        return min(len(ids), count.value)
    return count.value


def torchrun_args(run_dir: Path, nproc: int, resume: bool = False) -> list[str]:
    """torch.distributed.run's command line for one machine (`--standalone`: it picks a free
    rendezvous port itself, so several runs can train side by side)."""
    return (["--standalone", f"--nproc-per-node={nproc}", "--module", "workbench.worker",
             str(run_dir)] + (["--resume"] if resume else []))


def failure_message(rank: int, failure) -> str:
    """One line naming the rank that died and how (torchrun's ProcessFailure)."""
    how = (f"was killed by signal {failure.signal_name()}" if failure.exitcode < 0
           else f"exited with code {failure.exitcode}")
    detail = failure.message
    if isinstance(detail, dict):  # the rank recorded its exception in torchrun's error file
        detail = detail.get("message", "")
    text = f"rank {rank} (local rank {failure.local_rank}, pid {failure.pid}) {how}"
    if detail and "pytorch.org" not in str(detail):
        text += f": {detail}"
    return text + "; the other ranks were stopped. Resume continues from the last checkpoint."


def _record_failure(run_dir: Path, error, since: float, stream) -> None:
    """Write the run's `failed` event for a rank that died, unless rank 0 already explained a
    failure of its own (the root cause was rank 0 and it wrote `failed` after `since`)."""
    failures = error.failures
    first = min(f.timestamp for f in failures.values())
    # several ranks seen dead in one poll: a rank other than 0 is the likelier root cause,
    # since rank 0's own errors are in its event already
    rank = max(r for r, f in failures.items() if f.timestamp == first)
    events = list(read_events(run_dir))
    last = events[-1] if events else {}
    if rank == 0 and last.get("type") == "failed" and last.get("t", 0) >= since:
        return
    step, epoch = int(last.get("step", 0)), int(last.get("epoch", 0))
    failure = failures[rank]
    writer = EventWriter(run_dir, stream)
    try:
        writer.emit(make_event("failed", step, epoch, message=failure_message(rank, failure),
                               rank=rank, exit_code=failure.exitcode))
    finally:
        writer.close()


def launch(run_dir: Path, nproc: int, resume: bool = False, stream=None) -> int:
    """Train RUN_DIR on nproc local processes and wait; returns the exit code. Rank 0's events
    reach `stream` through the inherited stdout, and commands reach rank 0 through stdin."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    # torchrun would give every process one CPU thread; share the machine's cores instead.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    since = time.time()
    try:
        run(parse_args(torchrun_args(Path(run_dir).absolute(), nproc, resume)))
    except ChildFailedError as exc:
        _record_failure(Path(run_dir), exc, since, stream)
        return 1
    except SignalException as exc:  # SIGTERM/SIGINT: the ranks got it too, saved and stopped
        return 128 + int(exc.sigval)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workbench.launch",
        description="Train the run in RUN_DIR on NPROC processes of this machine (one per GPU, "
                    "or CPU processes) with torch.distributed.run. Rank 0's events go to stdout "
                    "and RUN_DIR/events.jsonl; commands are read by rank 0 from stdin.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--nproc", type=int, required=True, metavar="N", help="processes to start")
    parser.add_argument("--resume", action="store_true", help="continue from checkpoints/last.pt")
    parser.add_argument("--nice", type=int, default=0, metavar="N",
                        help="lower the processes' CPU priority by N (the GUI uses 10)")
    args = parser.parse_args(argv)
    if args.nproc < 1:
        parser.error("--nproc must be at least 1")
    lower_priority(args.nice)  # inherited by the ranks
    return launch(args.run_dir, args.nproc, resume=args.resume, stream=sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
