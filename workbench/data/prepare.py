"""Build a run's on-disk image cache before training, reporting progress as log lines."""
from __future__ import annotations

import queue
import sys
import time
from collections.abc import Callable

from workbench.data import load_dataset

CACHED_DATASETS = ("folder", "shapes120k", "mnist", "fashionmnist", "cifar10", "stl10")
REPORT_EVERY = 0.1  # fraction of the build between log lines


def stop_requested(commands: queue.Queue) -> bool:
    """True when a stop command waits in the queue (left there for the trainer to act on)."""
    with commands.mutex:
        return any(isinstance(c, dict) and c.get("type") == "stop" for c in commands.queue)


def prepare_data(cfg, log: Callable[[str], None], commands: queue.Queue) -> None:
    """Load cfg's dataset once so its cache exists, logging the build's progress; a stop
    command cancels the build (BuildCancelled, a DataError) and nothing is left behind."""
    name = str(cfg.dataset).strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    if name not in CACHED_DATASETS:
        return
    state = {"next": 0.0, "t0": time.monotonic()}

    def progress(fraction: float) -> None:
        if fraction >= 1.0 and state["next"] == 0.0:
            return  # reused as it was: nothing to say
        if fraction >= state["next"]:
            log(f"building the image cache for {cfg.dataset}: {fraction:.0%} "
                f"({time.monotonic() - state['t0']:.0f} s)")
            state["next"] = min(1.0, fraction + REPORT_EVERY) if fraction < 1.0 else 2.0

    load_dataset(cfg.dataset, root=cfg.data_root, image_size=cfg.image_size, download=cfg.download,
                 progress=progress, cancel=lambda: stop_requested(commands))


def progress_bar(desc: str = "building image cache") -> Callable[[float], None]:
    """A progress callback that shows a tqdm bar on stderr, only once a build is under way
    (a cache that is reused reports 1.0 at once and shows nothing)."""
    state: dict = {}

    def progress(fraction: float) -> None:
        bar = state.get("bar")
        if bar is None:
            if fraction >= 1.0:
                return
            from tqdm import tqdm

            bar = state["bar"] = tqdm(total=1000, desc=desc, unit="‰", file=sys.stderr, mininterval=0.5)
        bar.update(int(fraction * 1000) - bar.n)
        if fraction >= 1.0:
            bar.close()

    return progress
