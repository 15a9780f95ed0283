"""Tests of workbench.registry: entry-point discovery that reports broken plugins and never raises."""
from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

import workbench.registry as registry
from workbench.api import Method
from workbench.registry import GROUP, UnknownMethod, discover, get_method

BUILTINS = ("autoencoder", "rotation", "simclr")


class WrongName(Method):
    name = "something_else"
    family = "pretext"


class BadFamily(Method):
    name = "badfamily"
    family = "alchemy"


class NotAMethod:
    name = "notamethod"


class Fine(Method):
    name = "fine"
    family = "pretext"


def _ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=GROUP)


@pytest.fixture
def fake_plugins(monkeypatch):
    """Replace the installed entry points by the built-ins plus some broken ones."""
    real = list(registry.entry_points(group=GROUP))
    extra = [_ep("broken", "nonexistent_module_xyz:Thing"),
             _ep("wrongname", f"{__name__}:WrongName"),
             _ep("notamethod", f"{__name__}:NotAMethod"),
             _ep("badfamily", f"{__name__}:BadFamily"),
             _ep("missingattr", f"{__name__}:DoesNotExist"),
             _ep("fine", f"{__name__}:Fine")]
    monkeypatch.setattr(registry, "entry_points", lambda group: [*extra, *real] if group == GROUP else [])
    yield discover(refresh=True)
    monkeypatch.undo()
    discover(refresh=True)


def test_builtins_are_discovered():
    found = discover()
    for name in BUILTINS:
        assert name in found, f"{name} not registered: {sorted(found)}"
        entry = found[name]
        assert entry.ok and entry.error is None
        assert issubclass(entry.cls, Method) and entry.cls.name == name
        assert entry.target.startswith("plugins.")


def test_discover_returns_a_copy():
    found = discover()
    found.clear()
    assert discover()


def test_broken_plugins_are_reported_and_others_load(fake_plugins):
    found = fake_plugins
    for name in BUILTINS + ("fine",):
        assert found[name].ok, found[name].error
    assert found["fine"].cls is Fine
    for name in ("broken", "wrongname", "notamethod", "badfamily", "missingattr"):
        assert not found[name].ok and found[name].cls is None and found[name].error
    assert "ModuleNotFoundError" in found["broken"].error
    assert "nonexistent_module_xyz" in found["broken"].error
    assert "something_else" in found["wrongname"].error and "entry point" in found["wrongname"].error
    assert "not a workbench.api.Method subclass" in found["notamethod"].error
    assert "alchemy" in found["badfamily"].error
    assert "DoesNotExist" in found["missingattr"].error
    assert found["broken"].target == "nonexistent_module_xyz:Thing"


def test_get_method_of_broken_plugin_names_its_error(fake_plugins):
    with pytest.raises(UnknownMethod) as err:
        get_method("broken")
    assert "failed to load" in str(err.value) and "nonexistent_module_xyz" in str(err.value)
    assert get_method("fine") is Fine


def test_cache_restored_after_fixture():
    # runs after the fixture tests in file order: the fakes must be gone again
    found = discover()
    assert "broken" not in found and "fine" not in found
    assert all(found[n].ok for n in BUILTINS)


def test_get_method_known():
    from plugins.simclr import SimCLR

    assert get_method("simclr") is SimCLR


def test_get_method_unknown_lists_available():
    with pytest.raises(UnknownMethod) as err:
        get_method("nope")
    msg = str(err.value)
    assert "nope" in msg
    for name in BUILTINS:
        assert name in msg
    assert isinstance(err.value, KeyError)
    assert not msg.startswith("'")  # str() is the message, not KeyError's quoted repr
