"""RunConfig and method Config dataclasses: defaults, validation, JSON and `--set key=value`."""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A user-facing configuration problem; the message names the field and what is allowed."""


def setting(default: Any, help: str, min: float | None = None, max: float | None = None,
            choices: tuple | None = None, exclusive_min: bool = False, label: str | None = None,
            **kw: Any) -> Any:
    """A dataclass field with the metadata that drives validation, the GUI form and --help."""
    meta = {"help": help, "min": min, "max": max, "choices": choices, "exclusive_min": exclusive_min,
            "label": label}
    if isinstance(default, (list, dict, tuple)) and not isinstance(default, tuple):
        return field(default_factory=lambda: type(default)(default), metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


@dataclass
class RunConfig:
    """Everything the host needs to run one training: data, backbone, optimiser, schedule."""

    method: str = setting("simclr", "Self-supervised method (see `ssl-workbench methods`).")
    dataset: str = setting("mnist5k", "Dataset (see `ssl-workbench datasets`).")
    data_root: str | None = setting(None, "Folder for image-folder and torchvision datasets.")
    download: bool = setting(False, "Allow downloading a torchvision dataset (needs internet).")
    image_size: int = setting(32, "Image side for image folders (pixels).", min=8, max=256)
    data_path: str = setting("auto", "How training reads images: memory (the whole split on the "
                             "device), stream (batches read from the on-disk cache), or auto "
                             "(memory when the split fits: < min(25% of free RAM, 2 GB)).",
                             choices=("auto", "memory", "stream"), label="Data path")
    backbone: str = setting("small_cnn", "Encoder architecture.",
                            choices=("small_cnn", "small_cnn_grid", "small_cnn_levels", "resnet18", "mlp", "resnet50", "vit_tiny", "vit_small"))
    backbone_weights: str | None = setting(None, "Initial backbone weights: a local state-dict file "
                                                 "(e.g. torchvision's resnet50-*.pth), never downloaded.")
    epochs: int = setting(10, "Passes over the training split.", min=1, max=10000)
    batch_size: int = setting(256, "Images per optimiser step.", min=2, max=65536)
    optimizer: str = setting("adam", "Optimiser (LARS suits very large batches).",
                             choices=("adam", "adamw", "sgd", "lars"))
    lr: float = setting(1e-3, "Peak learning rate after warm-up.", min=0.0, max=10.0,
                        exclusive_min=True, label="Learning rate")
    weight_decay: float = setting(1e-6, "L2 weight decay.", min=0.0, max=1.0)
    momentum: float = setting(0.9, "Momentum for SGD and LARS.", min=0.0, max=0.999)
    warmup_epochs: float = setting(0.5, "Linear warm-up length before the cosine decay.",
                                   min=0.0, max=1000.0)
    grad_clip: float = setting(5.0, "Clip the gradient norm to this (0 = off).", min=0.0, max=1e6)
    seed: int = setting(0, "Random seed (weights, batches, augmentations).", min=0, max=2**31 - 1)
    device: str = setting("auto", "Where to train: auto picks cuda > mps > cpu.",
                          choices=("auto", "cpu", "cuda", "mps"))
    amp: bool = setting(True, "Mixed precision on CUDA (ignored on CPU).", label="Mixed precision")
    compile: bool = setting(False, "torch.compile the training step (faster on GPUs after a "
                                   "slow first step).", label="Compile")
    checkpoint_every: int = setting(0, "Also keep checkpoints/step-<n>.pt every N epochs (0 = off).",
                                    min=0, max=10000)
    eval_every: int = setting(1, "Run the kNN evaluation every N epochs.", min=1, max=10000)
    probe_size: int = setting(1000, "Test images embedded each epoch for the live map.",
                              min=0, max=100000)
    preview_interval: float = setting(2.0, "Seconds between preview pictures (at least).",
                                      min=0.0, max=3600.0)
    linear_probe: bool = setting(True, "Fit a linear probe on frozen features at the end.")
    threads: int = setting(0, "CPU threads for torch (0 = torch's default).", min=0, max=1024)
    processes: int = setting(1, "Processes to train on, one per GPU (or CPU processes): more "
                                "than 1 launches torch.distributed.run; batch_size stays the "
                                "global batch.", min=1, max=1024, label="Processes")
    lr_scaling: str = setting("none", "Scale lr with the global batch: linear (lr × batch / "
                                      "lr_base_batch), sqrt, or none.",
                              choices=("none", "linear", "sqrt"), label="LR scaling")
    lr_base_batch: int = setting(256, "The batch size lr is stated for (with lr_scaling).",
                                 min=1, max=1048576, label="LR base batch")
    sync_bn: str = setting("auto", "BatchNorm over the global batch when several processes "
                                   "train: auto follows the method's paper (SimCLR, BYOL, "
                                   "VICReg yes; MoCo and the rest per process).",
                           choices=("auto", "on", "off"), label="Synchronised BatchNorm")
    method_config: dict = setting({}, "The method's own settings (its Config).")


def format_number(value: float) -> str:
    """A bound or value as people read it: whole numbers in full (2147483647, not 2.14748e+09)."""
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e16):
        return str(int(value))
    return f"{value:g}"


def _allowed(meta: dict) -> str:
    if meta.get("choices"):
        return "one of " + ", ".join(map(str, meta["choices"]))
    lo, hi = meta.get("min"), meta.get("max")
    low = "" if lo is None else f"> {format_number(lo)}" if meta.get("exclusive_min") else f">= {format_number(lo)}"
    high = f"<= {format_number(hi)}" if hi is not None else ""
    return " and ".join(p for p in (low, high) if p) or "any value"


@functools.lru_cache(maxsize=None)
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # evaluates every annotation: once per class, not per field and keystroke


def field_type(cls: type, f: dataclasses.Field) -> type:
    """The concrete python type of a dataclass field (Optional[X] -> X)."""
    hints = _type_hints(cls)
    tp = hints.get(f.name, str)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
        tp = args[0]
    origin = typing.get_origin(tp)
    return origin or tp


def field_error(cls: type, f: dataclasses.Field, value: Any) -> str | None:
    """Why `value` is not allowed for field f of cls (one line naming the field), or None."""
    meta = f.metadata
    if value is None:
        return None
    tp = field_type(cls, f)
    if tp in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"{f.name}={value!r} is not a number; allowed: {_allowed(meta)}"
    if tp is int and not isinstance(value, int):
        return f"{f.name}={value!r} is not a whole number; allowed: {_allowed(meta)}"
    if tp is float and (value != value or value in (float("inf"), float("-inf"))):
        return f"{f.name}={value} is not allowed; allowed: {_allowed(meta)}"
    if meta.get("choices") and value not in meta["choices"]:
        return f"{f.name}={value!r} is not allowed; use {_allowed(meta)}"
    lo, hi = meta.get("min"), meta.get("max")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        too_low = lo is not None and (value <= lo if meta.get("exclusive_min") else value < lo)
        if too_low or (hi is not None and value > hi):
            return f"{f.name}={format_number(value)} is out of range; allowed: {_allowed(meta)}"
    return None


def validate(obj: Any) -> None:
    """Raise ConfigError naming the first field whose value breaks its metadata."""
    for f in dataclasses.fields(obj):
        message = field_error(type(obj), f, getattr(obj, f.name))
        if message:
            raise ConfigError(message)


def parse_value(cls: type, f: dataclasses.Field, text: str) -> Any:
    """Turn the text of `--set key=value` into the field's type, or raise ConfigError."""
    tp = field_type(cls, f)
    try:
        if tp is bool:
            low = text.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
        if tp in (list, tuple, dict):
            return tp(json.loads(text))
        if text.lower() in ("none", "null") and f.default is None:
            return None
        return text
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ConfigError(f"{f.name}={text!r} is not a valid {tp.__name__}") from None


def from_dict(cls: type, data: dict, where: str = "") -> Any:
    """Build a dataclass from a dict; unknown keys are an error naming the known ones."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
                          f"{' for ' + where if where else ''}; known: {', '.join(names)}")
    kwargs = {}
    for key, value in data.items():
        tp = field_type(cls, names[key])
        if tp is tuple and isinstance(value, list):
            value = tuple(value)
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if tp is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        kwargs[key] = value
    return cls(**kwargs)


def to_dict(obj: Any) -> dict:
    return dataclasses.asdict(obj)


def apply_overrides(run: RunConfig, method_config_cls: type, pairs: list[str]) -> RunConfig:
    """Apply `key=value` pairs: a method setting if the method has it, else a RunConfig field."""
    run_fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    method_fields = {f.name: f for f in dataclasses.fields(method_config_cls)}
    method_values = dict(run.method_config)
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        method_only = key.startswith("method.")
        if method_only:
            key = key[len("method."):]
            if key not in method_fields:
                raise ConfigError(f"method {run.method!r} has no setting {key!r}; its settings: "
                                  f"{', '.join(method_fields) or 'none'}")
        if key in method_fields:
            method_values[key] = parse_value(method_config_cls, method_fields[key], text)
        elif key in run_fields and key not in ("method", "method_config"):
            setattr(run, key, parse_value(RunConfig, run_fields[key], text))
        else:
            known = sorted(set(method_fields) | (set(run_fields) - {"method", "method_config"}))
            raise ConfigError(f"unknown setting {key!r}; known: {', '.join(known)}")
    run.method_config = method_values
    return run


def method_config(run: RunConfig, method_config_cls: type) -> Any:
    """The method's Config built from run.method_config, validated."""
    cfg = from_dict(method_config_cls, run.method_config, where=f"method {run.method!r}")
    validate(cfg)
    return cfg


def save_run_config(run: RunConfig, path: Path) -> None:
    from .rundir import write_atomic  # exclusive temp file, renamed over (never through) a symlink
    write_atomic(Path(path), (json.dumps(to_dict(run), indent=2) + "\n").encode())


def load_run_config(path: Path) -> RunConfig:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist: not a run directory?") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}): "
                          f"not a run configuration") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a run configuration")
    run = from_dict(RunConfig, data, where=str(path))
    validate(run)
    return run


def describe_fields(cls: type) -> list[dict]:
    """Field descriptions (name, type, default, help, min, max, choices) for forms and --help."""
    out = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        out.append({"name": f.name, "type": field_type(cls, f).__name__, "default": default,
                    **{k: f.metadata.get(k) for k in ("help", "min", "max", "choices", "exclusive_min", "label")}})
    return out


def absolute_data_root(run: RunConfig) -> RunConfig:
    """Store data_root as an absolute path (~ expanded), so the run finds its data from any
    working directory: eval, export and resume need not start where training did."""
    if run.data_root:
        run.data_root = os.path.abspath(os.path.expanduser(run.data_root))
    return run


def new_run_config(method: str, dataset: str, method_defaults: dict | None = None, **explicit: Any) -> RunConfig:
    """A RunConfig from the global defaults, then the method's preferences, then the user's."""
    run = RunConfig(method=method, dataset=dataset)
    for key, value in {**(method_defaults or {}), **{k: v for k, v in explicit.items() if v is not None}}.items():
        if not hasattr(run, key):
            raise ConfigError(f"unknown setting {key!r}")
        setattr(run, key, value)
    return run
