"""Turn a RunConfig into the things a run needs: device, dataset and a ready Method."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .api import DataSpec, Method
from .backbone_rules import method_backbone_problem
from .backbones import build_backbone, load_backbone_weights
from .checkpoint import CheckpointError, load_checkpoint
from .rundir import BEST, LAST, RunDir
from .config import ConfigError, RunConfig, load_run_config, method_config, to_dict, validate
from .data import Dataset, load_dataset
from .registry import get_method


def pick_device(requested: str = "auto") -> torch.device:
    """cuda > mps > cpu for "auto"; a device that is asked for but missing is a clear error."""
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if has_mps else torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA GPU is available here; use device=auto or cpu")
    if requested == "mps" and not has_mps:
        raise ConfigError("device=mps but Apple's MPS is not available here; use device=auto or cpu")
    return torch.device(requested)


def describe_device(device: torch.device) -> str:
    """'CUDA: NVIDIA H100 (79.1 GiB)' or 'CPU (2 threads)', for logs and the GUI."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"CUDA: {props.name} ({props.total_memory / 2**30:.1f} GiB)"
    if device.type == "mps":
        return "Apple MPS"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'' if threads == 1 else 's'})"


@dataclass
class Built:
    method: Method
    dataset: Dataset
    device: torch.device


# Batch norm and every batch statistic (variance, contrast) need two samples: a train split
# of one gives a batch of one, which fails ("more than 1 value per channel") or turns to NaN.
MIN_TRAIN_ITEMS = 2
# An image folder gives about a fifth of its images (at least one) to the test split.
MIN_FOLDER_IMAGES = MIN_TRAIN_ITEMS + 1


def train_size_problem(n_train: int, dataset: str) -> str | None:
    """Why a train split of n_train items is too small to train on (one line), or None."""
    if n_train >= MIN_TRAIN_ITEMS:
        return None
    hint = (f"; an image folder needs at least {MIN_FOLDER_IMAGES} images (one goes to the test split)"
            if dataset == "folder" else "")
    return (f"dataset {dataset!r} has {n_train} training item{'' if n_train == 1 else 's'}; training "
            f"needs at least {MIN_TRAIN_ITEMS} (a batch of one breaks batch norm and batch statistics){hint}")


def folder_size_problem(root: str | Path | None) -> str | None:
    """Before loading: why an image folder holds too few images to train on, or None. Counts
    image files (as the folder loader finds them) only up to the minimum, so it is quick."""
    from .data.folder import IMAGE_SUFFIXES
    if not root or not Path(root).expanduser().is_dir():
        return None  # missing or not a folder: the loader says so
    count = 0
    for dirpath, dirnames, filenames in os.walk(Path(root).expanduser()):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        count += sum(1 for f in filenames if not f.startswith(".") and f.lower().endswith(IMAGE_SUFFIXES))
        if count >= MIN_FOLDER_IMAGES:
            return None
    return (f"The folder holds {count} image{'' if count == 1 else 's'}; training needs at least "
            f"{MIN_FOLDER_IMAGES} ({MIN_TRAIN_ITEMS} to train on, 1 to test).")


def check_data(cls: type[Method], run: RunConfig, dataset: Dataset, initial_weights: bool = True) -> None:
    """A clear ConfigError when the method cannot work on this dataset (modality, channels,
    backbone) or, unless initial_weights is False, the backbone_weights file is missing."""
    if not cls.accepts(dataset.spec.modality):
        works_on = " or ".join(cls.modalities or (cls.modality,))
        raise ConfigError(f"method {run.method!r} works on {works_on} data but dataset "
                          f"{run.dataset!r} is {dataset.spec.modality}")
    if dataset.spec.modality == "image" and dataset.spec.channels not in cls.input_channels:
        raise ConfigError(f"method {run.method!r} needs {' or '.join(map(str, cls.input_channels))}-channel "
                          f"images but dataset {run.dataset!r} has {dataset.spec.channels}; "
                          f"pick shapes, CIFAR-10 or an image folder")
    problem = (method_backbone_problem(cls, run.backbone, dataset.spec.modality, dataset.spec.input_shape)
               or train_size_problem(len(dataset.x_train), run.dataset))
    if problem:
        raise ConfigError(problem)
    if initial_weights and run.backbone_weights and not Path(run.backbone_weights).expanduser().is_file():
        raise ConfigError(f"backbone_weights: no file {run.backbone_weights!r}")
    if initial_weights:
        problem = cls.settings_problem(method_config(run, cls.Config), run)
        if problem:
            raise ConfigError(f"{run.method}: {problem}")


def host_backbone(name: str, spec: DataSpec, **kwargs) -> tuple[nn.Module, int]:
    """The encoder the host hands a method (kwargs go to build_backbone). Text methods own
    their embedding tables, so for text it is an empty module with 0 features."""
    if spec.modality == "text":
        return nn.Identity(), 0
    return build_backbone(name, spec.input_shape, **kwargs)


def build_method(run: RunConfig, dataset: Dataset, device: torch.device | str = "cpu",
                 initial_weights: bool = True) -> Method:
    """The method on its backbone, seeded by run.seed so equal configs give equal weights.
    initial_weights=False skips run.backbone_weights and the method's load_initial_weights (a
    checkpoint will overwrite them anyway)."""
    cls = get_method(run.method)
    cfg = method_config(run, cls.Config)
    check_data(cls, run, dataset, initial_weights)
    torch.manual_seed(run.seed)
    backbone, feat_dim = host_backbone(run.backbone, dataset.spec)
    if run.backbone_weights and initial_weights:  # before the method copies it (BYOL, MoCo)
        load_backbone_weights(backbone, run.backbone_weights)
    try:
        method = cls(cfg, backbone, feat_dim, dataset.spec).to(device)
        if initial_weights:
            method.load_initial_weights()
    except ValueError as exc:  # a method refusing these settings or this data is a user error
        raise ConfigError(f"{run.method}: {exc}") from None
    return method


def build(run: RunConfig) -> Built:
    """Validate the config, load its data and build its method on its device."""
    validate(run)
    device = pick_device(run.device)
    dataset = load_dataset(run.dataset, root=run.data_root, image_size=run.image_size,
                           download=run.download)
    return Built(build_method(run, dataset, device), dataset, device)


@dataclass
class Loaded:
    """A trained method restored from a run directory, with where its weights came from."""

    run: RunConfig
    method: Method
    dataset: Dataset
    device: torch.device
    checkpoint: Path
    step: int
    epoch: int


def resolve_checkpoint(run_dir: Path, which: str = "best") -> Path:
    """'best' (falls back to last), 'last', a file name in checkpoints/, or a path."""
    ck = RunDir(run_dir).checkpoints
    if which in ("best", "last"):
        for name in ((BEST, LAST) if which == "best" else (LAST,)):
            if (ck / name).is_file():
                return ck / name
        raise CheckpointError(f"{run_dir} has no checkpoint yet (train it first)")
    path = Path(which)
    if not path.is_file() and (ck / which).is_file():
        path = ck / which
    if not path.is_file():
        raise CheckpointError(f"no checkpoint {which!r} in {ck}")
    return path


def named_run_config(folder: str | Path, setting: str) -> RunConfig:
    """The RunConfig of the run folder that a setting names (e.g. a frozen first stage), or a
    ConfigError starting with the setting's name that says why the folder is not one."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ConfigError(f"{setting}: no run folder {str(path)!r}")
    config = RunDir(path).config
    if not config.is_file():
        raise ConfigError(f"{setting}: {str(path)!r} is not a run folder (it has no {config.name})")
    try:
        return load_run_config(config)
    except ConfigError as exc:
        raise ConfigError(f"{setting}: {exc}") from None


def named_run_weights(folder: str | Path, setting: str) -> tuple[dict, Path]:
    """(model state dict, checkpoint path) of that run's best checkpoint, else its last, loaded
    on the CPU with weights_only; a ConfigError naming the setting when it has none."""
    try:
        path = resolve_checkpoint(Path(folder).expanduser(), "best")
        return load_checkpoint(path, map_location="cpu")["model"], path
    except CheckpointError as exc:
        raise ConfigError(f"{setting}: {exc}") from None


def load_from_run(run_dir: Path, which: str = "best", device: str = "auto") -> Loaded:
    """Rebuild a run's method and data and load a checkpoint (weights_only) into it."""
    run = load_run_config(RunDir(run_dir).config)
    dev = pick_device(device)
    dataset = load_dataset(run.dataset, root=run.data_root, image_size=run.image_size,
                           download=False)
    method = build_method(run, dataset, dev, initial_weights=False)
    path = resolve_checkpoint(run_dir, which)
    state = load_checkpoint(path, map_location=dev)
    load_weights(method, state, path, run)
    method.eval()
    return Loaded(run, method, dataset, dev, path, int(state.get("step", 0)), int(state.get("epoch", 0)))


# Settings that change which weights a model has; a difference in one explains a mismatch.
_SHAPING = ("backbone", "image_size", "method_config")


def _mismatch(path: Path, state: dict, run: RunConfig, exc: Exception) -> str:
    """One line saying whose checkpoint `path` is, from what it stored about its run."""
    method, dataset = state.get("method"), state.get("dataset")
    if isinstance(method, str) and isinstance(dataset, str) and (method, dataset) != (run.method, run.dataset):
        return (f"checkpoint {path} was trained with method {method} on dataset {dataset}, "
                f"not this run's {run.method} on {run.dataset}")
    stored = state.get("config")
    if isinstance(stored, dict):
        mine = to_dict(run)
        diffs = [f"{key} {stored[key]!r}, not {mine[key]!r}" for key in _SHAPING
                 if key in stored and stored[key] != mine[key]]
        if diffs:
            return f"checkpoint {path} was trained with other settings than this run: {'; '.join(diffs)}"
    text = str(exc)
    kinds = [kind for kind, marker in (("missing weights", "Missing key"), ("unexpected weights", "Unexpected key"),
                                       ("weights of another size", "size mismatch")) if marker in text]
    return (f"checkpoint {path} does not fit this run's {run.method} model "
            f"({', '.join(kinds) or type(exc).__name__}); is it from another run?")


def load_weights(method: Method, state: dict, path: Path, run: RunConfig) -> None:
    """Load a checkpoint's model weights into `method`; one that belongs to another run or
    method is a CheckpointError naming the checkpoint's own method and dataset."""
    try:
        method.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(_mismatch(path, state, run, exc)) from None
