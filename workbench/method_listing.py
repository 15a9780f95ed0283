"""The registered methods as plain data (titles, families, settings, refusals), read without importing the
plugins, so the GUI lists them before torch loads.

Importing a plugin imports torch (seconds). What the run panel needs of a method is declarative, so
`listing()` keeps it in a JSON file under the user cache, one record per entry point, and reuses it
while nothing it was read from changed: the plugin's source file (path, size, mtime), its
distribution's version and the workbench package's own sources (a Config may inherit fields from
workbench.views). When any of that changed, or an entry point was added or removed, the listing is
read again from the classes through `registry.discover()` and rewritten. A method's own
`backbone_problem` rule, which is code, is kept as its answers for every backbone and modality.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import typing
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import entry_points
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from .backbone_rules import BACKBONES
from .registry import GROUP
from .spec import MODALITIES
from .user_cache import cache_root

FORMAT = 1
_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "tuple": tuple, "dict": dict}
_META_KEYS = ("help", "min", "max", "choices", "exclusive_min", "label")


@dataclass
class MethodInfo:
    """What the GUI shows and checks of a method before anything runs; reads like the class's attributes."""

    name: str
    title: str
    family: str
    modality: str
    modalities: tuple[str, ...]
    summary: str
    reference: str
    run_defaults: dict[str, Any]
    input_channels: tuple[int, ...]
    refusals: dict[str, dict[str, str]]  # modality -> backbone -> why the method refuses it
    config_fields: list[dict[str, Any]]  # name, type, optional, default, metadata

    def accepts(self, modality: str) -> bool:
        return modality in (self.modalities or (self.modality,))

    def backbone_problem(self, backbone: str, modality: str) -> str | None:
        return self.refusals.get(modality, {}).get(backbone)

    @cached_property
    def Config(self) -> type:  # noqa: N802 - reads like the plugin class's Config
        """A dataclass with the method Config's fields, types, defaults and metadata (for forms and validation)."""
        specs = []
        for f in self.config_fields:
            tp = _TYPES[f["type"]]
            default = tuple(f["default"]) if tp is tuple and f["default"] is not None else f["default"]
            meta = {k: (tuple(v) if k == "choices" and v is not None else v) for k, v in f["metadata"].items()}
            made = (field(default_factory=lambda d=default: type(d)(d), metadata=meta) if isinstance(default, (list, dict))
                    else field(default=default, metadata=meta))
            specs.append((f["name"], typing.Optional[tp] if f["optional"] else tp, made))
        return dataclasses.make_dataclass(f"{self.name}_Config", specs)


@dataclass
class ListedMethod:
    """One entry point: its MethodInfo when the plugin loads, or the error that stopped it."""

    name: str
    target: str
    info: MethodInfo | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.info is not None


def _field_record(cls: type, f: dataclasses.Field) -> dict[str, Any]:
    from .config import field_type
    hint = typing.get_type_hints(cls).get(f.name, str)
    tp = field_type(cls, f)
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    meta = {k: (list(v) if isinstance(v, tuple) else v) for k, v in f.metadata.items() if k in _META_KEYS}
    return {"name": f.name, "type": tp.__name__ if tp in _TYPES.values() else "str",
            "optional": type(None) in typing.get_args(hint),
            "default": list(default) if isinstance(default, tuple) else default, "metadata": meta}


def describe(cls: type) -> MethodInfo:
    """A loaded method class as plain data."""
    return MethodInfo(
        name=cls.name, title=cls.title, family=cls.family, modality=cls.modality,
        modalities=tuple(cls.modalities), summary=cls.summary, reference=cls.reference,
        run_defaults=dict(cls.run_defaults), input_channels=tuple(cls.input_channels),
        refusals={m: {b: why for b in BACKBONES if (why := cls.backbone_problem(b, m))} for m in MODALITIES},
        config_fields=[_field_record(cls.Config, f) for f in dataclasses.fields(cls.Config)])


def _stamp(target: str, dist_version: str) -> list:
    """What a record was read from: the plugin module's file (size, mtime) and its distribution's version."""
    try:
        spec = find_spec(target.split(":")[0])
        origin = spec.origin if spec is not None else None
        st = os.stat(origin) if origin else None
    except (ImportError, ValueError, OSError):
        return [target, dist_version, None]
    return [target, dist_version, origin, st.st_size, st.st_mtime_ns] if st else [target, dist_version, None]


def _core_fingerprint() -> str:
    """Changes when any source file of the workbench package changes (Configs inherit from it)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256(str(FORMAT).encode())
    for path in sorted(root.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _stamps() -> dict[str, list]:
    stamps = {}
    for ep in entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        stamps.setdefault(f"{ep.name}={ep.value}", _stamp(ep.value, dist.version if dist is not None else ""))
    return stamps


def listing_path() -> Path:
    return cache_root() / "methods.json"


def _read_cache(path: Path, core: str, stamps: dict[str, list]) -> dict[str, ListedMethod] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("core") != core or data.get("stamps") != stamps:
            return None
        out = {}
        for name, rec in data["methods"].items():
            info = rec.get("info")
            if info is not None:
                info = MethodInfo(**{**info, "modalities": tuple(info["modalities"]),
                                     "input_channels": tuple(info["input_channels"])})
            out[name] = ListedMethod(name=name, target=rec["target"], info=info, error=rec.get("error"))
        return out
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing, cut short or from another version: read the classes again


def _write_cache(path: Path, core: str, stamps: dict[str, list], methods: dict[str, ListedMethod]) -> None:
    from .rundir import write_atomic
    records = {name: {"target": m.target, "error": m.error,
                      "info": dataclasses.asdict(m.info) if m.info is not None else None} for name, m in methods.items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"format": FORMAT, "core": core, "stamps": stamps, "methods": records}).encode(),
                     durable=False)
    except OSError:
        pass  # a read-only cache only costs the next start its seconds


def from_classes() -> dict[str, ListedMethod]:
    """The listing read from the plugin classes themselves (imports every plugin, and so torch)."""
    from .registry import discover
    out = {}
    for name, entry in discover().items():
        try:
            info = describe(entry.cls) if entry.ok else None
            out[name] = ListedMethod(name=name, target=entry.target, info=info, error=entry.error)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:  # settings that are not plain data
            out[name] = ListedMethod(name=name, target=entry.target, error=f"{type(exc).__name__}: {exc}")
    return out


_memo: dict[str, ListedMethod] | None = None


def listing(refresh: bool = False) -> dict[str, ListedMethod]:
    """Every registered method by name (as `registry.discover()` names them), from the cache when
    nothing changed since it was written, else from the classes (then cached). Never raises."""
    global _memo
    if _memo is None or refresh:
        core, stamps, path = _core_fingerprint(), _stamps(), listing_path()
        found = None if refresh else _read_cache(path, core, stamps)
        if found is None:
            found = from_classes()
            _write_cache(path, core, stamps, found)
        _memo = found
    return dict(_memo)


if __name__ == "__main__":  # `python -m workbench.method_listing`: rebuild the cache and print it
    for n, m in listing(refresh=True).items():
        print(f"{n:24} {m.info.title if m.ok else 'error: ' + str(m.error)}")
