"""Discover method plugins through the `ssl_workbench.methods` entry points, lazily and safely."""
from __future__ import annotations

import dataclasses
import logging
import traceback
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from .spec import FAMILIES

if TYPE_CHECKING:  # the api imports torch; this module is read before any plugin is (method_listing)
    from .api import Method

GROUP = "ssl_workbench.methods"
BUILTIN_PACKAGE = "plugins"  # entry points whose module lives here ship with the workbench
log = logging.getLogger(__name__)


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
    from .api import Method
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        return f"{name}: {cls!r} is not a workbench.api.Method subclass"
    if cls.name != name:
        return f"{name}: class declares name {cls.name!r}; it must match the entry point"
    if cls.family not in FAMILIES:
        return f"{name}: family {cls.family!r} is not one of {', '.join(FAMILIES)}"
    if not (isinstance(cls.Config, type) and dataclasses.is_dataclass(cls.Config)):
        return f"{name}: its Config is not a dataclass (decorate it with @dataclass)"
    return None


def _load(ep: EntryPoint) -> MethodEntry:
    entry = MethodEntry(name=ep.name, target=ep.value)
    try:
        cls = ep.load()
        entry.error = _check(cls, ep.name)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a broken plugin is reported, never fatal (sys.exit included)
        last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" ({last.filename}:{last.lineno})" if last else ""
        what = (f"exited at import (sys.exit({exc.code!r}))" if isinstance(exc, SystemExit)
                else f"{type(exc).__name__}: {exc}")
        entry.error = f"{what}{where}"
        return entry
    if entry.error is None:
        entry.cls = cls
    return entry


def is_builtin(ep: EntryPoint) -> bool:
    """Whether the entry point names a method shipped in our `plugins` package."""
    return ep.value.split(":")[0].split(".")[0] == BUILTIN_PACKAGE


def _origin(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"distribution {dist.name}" if dist is not None else ep.value


def _refuse(ep: EntryPoint, holder: MethodEntry) -> MethodEntry:
    """A plugin that reuses a taken name is listed as refused and never imported, so it can
    neither replace the method that has the name nor run any of its code."""
    owner = "the built-in method" if holder.target.split(".")[0] == BUILTIN_PACKAGE else holder.target
    error = (f"refused: {ep.value} ({_origin(ep)}) registers the name {ep.name!r}, which {owner} "
             f"already has; give the plugin another name")
    log.warning("ssl-workbench: plugin %s", error)
    return MethodEntry(name=ep.name, target=ep.value, error=error)


_cache: dict[str, MethodEntry] | None = None


def discover(refresh: bool = False) -> dict[str, MethodEntry]:
    """Every registered method by name, with its class or its error. Never raises (a plugin
    that exits or raises at import is listed as broken). A name registered twice goes to the
    built-in method (else the first target in sort order); the other claimant is listed as
    refused under "name (its origin)"."""
    global _cache
    if _cache is None or refresh:
        found: dict[str, MethodEntry] = {}
        order = sorted(entry_points(group=GROUP), key=lambda e: (e.name, not is_builtin(e), e.value))
        for ep in order:
            holder = found.get(ep.name)
            if holder is None:
                found[ep.name] = _load(ep)
            elif holder.target != ep.value:  # the same target seen twice is one plugin
                found[f"{ep.name} ({_origin(ep)})"] = _refuse(ep, holder)
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
