"""Turn a RunConfig into the things a run needs: device, dataset and a ready Method."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .api import DataSpec, Method
from .backbones import backbone_problem, build_backbone
from .checkpoint import CheckpointError, load_checkpoint
from .rundir import BEST, LAST, RunDir
from .config import ConfigError, RunConfig, load_run_config, method_config, validate
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
    return f"CPU ({torch.get_num_threads()} threads)"


@dataclass
class Built:
    method: Method
    dataset: Dataset
    device: torch.device


def check_data(cls: type[Method], run: RunConfig, dataset: Dataset) -> None:
    """A clear ConfigError when the method cannot work on this dataset (modality, channels)."""
    if not cls.accepts(dataset.spec.modality):
        works_on = " or ".join(cls.modalities or (cls.modality,))
        raise ConfigError(f"method {run.method!r} works on {works_on} data but dataset "
                          f"{run.dataset!r} is {dataset.spec.modality}")
    if dataset.spec.modality == "image" and dataset.spec.channels not in cls.input_channels:
        raise ConfigError(f"method {run.method!r} needs {' or '.join(map(str, cls.input_channels))}-channel "
                          f"images but dataset {run.dataset!r} has {dataset.spec.channels}; "
                          f"pick shapes, CIFAR-10 or an image folder")
    problem = method_backbone_problem(cls, run.backbone, dataset.spec.modality)
    if problem:
        raise ConfigError(problem)


def method_backbone_problem(cls: type[Method], backbone: str, modality: str) -> str | None:
    """Why `cls` cannot train with `backbone` on data of `modality` (one line), or None."""
    return cls.backbone_problem(backbone, modality) or backbone_problem(backbone, modality)


def host_backbone(name: str, spec: DataSpec, **kwargs) -> tuple[nn.Module, int]:
    """The encoder the host hands a method (kwargs go to build_backbone). Text methods own
    their embedding tables, so for text it is an empty module with 0 features."""
    if spec.modality == "text":
        return nn.Identity(), 0
    return build_backbone(name, spec.input_shape, **kwargs)


def build_method(run: RunConfig, dataset: Dataset, device: torch.device | str = "cpu") -> Method:
    """The method on its backbone, seeded by run.seed so equal configs give equal weights."""
    cls = get_method(run.method)
    cfg = method_config(run, cls.Config)
    check_data(cls, run, dataset)
    torch.manual_seed(run.seed)
    backbone, feat_dim = host_backbone(run.backbone, dataset.spec)
    try:
        method = cls(cfg, backbone, feat_dim, dataset.spec)
    except ValueError as exc:  # a method refusing these settings or this data is a user error
        raise ConfigError(f"{run.method}: {exc}") from None
    return method.to(device)


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


def load_from_run(run_dir: Path, which: str = "best", device: str = "auto") -> Loaded:
    """Rebuild a run's method and data and load a checkpoint (weights_only) into it."""
    run = load_run_config(RunDir(run_dir).config)
    dev = pick_device(device)
    dataset = load_dataset(run.dataset, root=run.data_root, image_size=run.image_size,
                           download=False)
    method = build_method(run, dataset, dev)
    path = resolve_checkpoint(run_dir, which)
    state = load_checkpoint(path, map_location=dev)
    method.load_state_dict(state["model"])
    method.eval()
    return Loaded(run, method, dataset, dev, path, int(state.get("step", 0)), int(state.get("epoch", 0)))
