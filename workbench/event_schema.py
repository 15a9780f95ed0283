"""The event types written down: one TypedDict per event, and the check `make_event` runs on each."""
from __future__ import annotations

import typing
from typing import Any, TypedDict, Union


class Event(TypedDict):
    """Every event: its type, wall-clock time (s), the global step and the epoch (0-based)."""

    type: str
    t: float
    step: int
    epoch: int


class StartedEvent(Event):
    """The worker set up the run (also after a resume: `resumed` is then true)."""

    method: str
    title: str
    dataset: str
    device: str
    steps_per_epoch: int
    total_steps: int
    epochs: int
    batch_size: int
    parameters: int
    train_size: int
    test_size: int
    resumed: bool


class _StepOptional(Event, total=False):
    gpu_mem_mb: float  # CUDA only: the peak memory allocated so far


class StepEvent(_StepOptional):
    """Training progress, at most ~4 per second: mean loss over the window, the method's own terms."""

    loss: float
    lr: float
    img_s: float
    logs: dict
    progress: float  # step / total_steps


class EpochEvent(Event):
    loss: Union[float, None]  # None when the epoch had no step (a stop right at its start)
    seconds: float
    img_s: float


class EvalEvent(Event, total=False):
    """Evaluation: kNN and collapse after an epoch, a linear probe at the end, or scores on text."""

    knn_top1: float
    knn_top1_k200: float
    knn_best: float
    collapse_std_ratio: float
    effective_rank: float
    linear_top1: float
    scores: dict      # human label -> value (analogy top-1, word similarity ρ)
    coverage: dict
    measures: dict    # the method's own, in the label's unit (test NLL in nats/image, perplexity)
    diagnostics: dict  # rankme, alignment, uniformity, normalised_std, std_ratio (workbench.diagnostics)
    probe_top1: float  # the online linear probe on stop-gradient features


class PreviewEvent(Event):
    """A preview grid saved at `path` (run-relative PNG)."""

    name: str
    title: str
    path: str
    captions: list
    columns: int
    tile: list
    count: int
    pad: int


class CheckpointEvent(Event):
    path: str  # run-relative, e.g. checkpoints/last.pt


class EmbeddingEvent(Event):
    """Probe-set embeddings saved at `path` (run-relative .npz) for the live map."""

    path: str
    n: int
    dim: int


class PausedEvent(Event):
    pass


class ResumedEvent(Event):
    pass


class _FinishedOptional(Event, total=False):
    knn_top1: float
    knn_best: float
    linear_top1: float
    scores: dict


class FinishedEvent(_FinishedOptional):
    """The end of training (`stopped`: on request, before the last epoch)."""

    stopped: bool
    message: str
    seconds: float


class _FailedOptional(Event, total=False):
    detail: str  # a traceback, for bugs and environment failures


class FailedEvent(_FailedOptional):
    message: str


class LogEvent(Event):
    level: str  # info | warning | error
    message: str


SCHEMAS: dict[str, type] = {
    "started": StartedEvent, "step": StepEvent, "epoch": EpochEvent, "eval": EvalEvent,
    "preview": PreviewEvent, "checkpoint": CheckpointEvent, "embedding": EmbeddingEvent,
    "paused": PausedEvent, "resumed": ResumedEvent, "finished": FinishedEvent,
    "failed": FailedEvent, "log": LogEvent,
}
EVENT_TYPES = tuple(SCHEMAS)


def _fits(value: Any, kind: Any) -> bool:
    if typing.get_origin(kind) is Union:
        return any(_fits(value, k) for k in typing.get_args(kind))
    if kind is type(None):
        return value is None
    if kind is float:  # JSON has one number type; a diverged loss is spelled "nan" once encoded
        return (isinstance(value, (int, float)) and not isinstance(value, bool)) or value in ("nan", "inf", "-inf")
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


_HINTS = {name: typing.get_type_hints(cls) for name, cls in SCHEMAS.items()}


def check_event(event: dict) -> list[str]:
    """What is wrong with `event` against its type's schema (empty when it fits). Fields the
    schema does not name are allowed: a newer worker may add some."""
    kind = event.get("type")
    schema = SCHEMAS.get(kind)
    if schema is None:
        return [f"unknown event type {kind!r}"]
    hints = _HINTS[kind]
    problems = [f"missing {key!r}" for key in sorted(schema.__required_keys__) if key not in event]
    for key, kind_of in hints.items():
        if key in event and not _fits(event[key], kind_of):
            problems.append(f"{key!r} is {type(event[key]).__name__}, not {getattr(kind_of, '__name__', kind_of)}")
    return problems
