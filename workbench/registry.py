"""Discover method plugins through the `ssl_workbench.methods` entry points, lazily and safely."""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from .api import FAMILIES, Method

GROUP = "ssl_workbench.methods"


class UnknownMethod(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class MethodEntry:
    """One discovered method: its class when it loads, or the error that stopped it."""

    name: str
    target: str  # "module:Class"
    cls: type[Method] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.cls is not None


def _check(cls: object, name: str) -> str | None:
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        return f"{name}: {cls!r} is not a workbench.api.Method subclass"
    if cls.name != name:
        return f"{name}: class declares name {cls.name!r}; it must match the entry point"
    if cls.family not in FAMILIES:
        return f"{name}: family {cls.family!r} is not one of {', '.join(FAMILIES)}"
    return None


def _load(ep: EntryPoint) -> MethodEntry:
    entry = MethodEntry(name=ep.name, target=ep.value)
    try:
        cls = ep.load()
    except Exception as exc:  # a broken plugin is reported, never fatal
        last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" ({last.filename}:{last.lineno})" if last else ""
        entry.error = f"{type(exc).__name__}: {exc}{where}"
        return entry
    entry.error = _check(cls, ep.name)
    if entry.error is None:
        entry.cls = cls
    return entry


_cache: dict[str, MethodEntry] | None = None


def discover(refresh: bool = False) -> dict[str, MethodEntry]:
    """Every registered method by name, with its class or its error. Never raises."""
    global _cache
    if _cache is None or refresh:
        found = {}
        for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            found.setdefault(ep.name, _load(ep))
        _cache = found
    return dict(_cache)


def get_method(name: str) -> type[Method]:
    """The class of a working method, or UnknownMethod with a message listing what exists."""
    methods = discover()
    entry = methods.get(name)
    if entry is None:
        usable = ", ".join(n for n, e in methods.items() if e.ok) or "none"
        raise UnknownMethod(f"unknown method {name!r}; available: {usable}")
    if entry.cls is None:
        raise UnknownMethod(f"method {name!r} failed to load: {entry.error}")
    return entry.cls
