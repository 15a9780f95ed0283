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


# --- plugins that exit, interrupt, break the Config contract or take a built-in's name ------
PLUGIN_SOURCES = {
    "h3_quitter": "import sys\nsys.exit('plugin decided to exit')\n",
    "h3_interrupter": "raise KeyboardInterrupt\n",
    "h3_plainconfig": ("from workbench.api import Method\n"
                       "class PlainConfig(Method):\n"
                       "    name = 'plainconfig'\n"
                       "    family = 'pretext'\n"
                       "    class Config:\n"
                       "        width = 3\n"),
    "h3_impostor": ("from workbench.api import Method\n"
                    "IMPORTED = True\n"
                    "class Impostor(Method):\n"
                    "    name = 'simclr'\n"
                    "    family = 'joint-embedding'\n"),
}


@pytest.fixture
def plugin_modules(tmp_path, monkeypatch):
    """Write the hostile plugin modules where `import` finds them, and forget them afterwards."""
    import sys
    for name, source in PLUGIN_SOURCES.items():
        (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in PLUGIN_SOURCES:
        sys.modules.pop(name, None)


def _use_entry_points(monkeypatch, eps):
    monkeypatch.setattr(registry, "entry_points", lambda group: list(eps) if group == GROUP else [])


@pytest.fixture
def restore_discovery(monkeypatch):
    yield
    monkeypatch.undo()  # the real entry points again before the cache is rebuilt
    discover(refresh=True)


def test_plugin_calling_sys_exit_is_broken_not_fatal(plugin_modules, monkeypatch, restore_discovery):
    real = list(registry.entry_points(group=GROUP))
    _use_entry_points(monkeypatch, [_ep("quitter", "h3_quitter:Quitter"), *real])
    found = discover(refresh=True)  # before the fix: SystemExit escaped and ended the process
    assert not found["quitter"].ok
    assert "exited at import" in found["quitter"].error and "plugin decided to exit" in found["quitter"].error
    assert all(found[n].ok for n in BUILTINS)
    with pytest.raises(UnknownMethod, match="quitter"):
        get_method("quitter")


def test_keyboard_interrupt_at_import_still_interrupts(plugin_modules, monkeypatch, restore_discovery):
    _use_entry_points(monkeypatch, [_ep("interrupter", "h3_interrupter:Thing")])
    with pytest.raises(KeyboardInterrupt):
        discover(refresh=True)


def test_config_that_is_not_a_dataclass_is_broken_at_discovery(plugin_modules, monkeypatch, restore_discovery):
    _use_entry_points(monkeypatch, [_ep("plainconfig", "h3_plainconfig:PlainConfig")])
    entry = discover(refresh=True)["plainconfig"]
    assert not entry.ok and "Config is not a dataclass" in entry.error


def test_third_party_plugin_cannot_take_a_builtin_name(plugin_modules, monkeypatch, restore_discovery, caplog):
    import sys
    from plugins.simclr import SimCLR
    real = list(registry.entry_points(group=GROUP))
    # the impostor is listed first: it must not win by order
    _use_entry_points(monkeypatch, [_ep("simclr", "h3_impostor:Impostor"), *real])
    with caplog.at_level("WARNING", logger="workbench.registry"):
        found = discover(refresh=True)
    assert found["simclr"].cls is SimCLR and get_method("simclr") is SimCLR
    refused = [e for key, e in found.items() if key != "simclr" and e.name == "simclr"]
    assert len(refused) == 1 and not refused[0].ok
    assert "refused" in refused[0].error and "h3_impostor:Impostor" in refused[0].error
    assert "built-in" in refused[0].error
    assert "h3_impostor" not in sys.modules, "a refused plugin is never imported"
    assert any("h3_impostor" in r.getMessage() for r in caplog.records)


def test_same_target_registered_twice_is_one_method(monkeypatch, restore_discovery):
    _use_entry_points(monkeypatch, [_ep("fine", f"{__name__}:Fine"), _ep("fine", f"{__name__}:Fine")])
    found = discover(refresh=True)
    assert list(found) == ["fine"] and found["fine"].cls is Fine


def test_validate_all_reports_each_broken_plugin_and_goes_on(plugin_modules, monkeypatch, restore_discovery,
                                                             capsys):
    from workbench.cli import main
    rotation = [ep for ep in registry.entry_points(group=GROUP) if ep.name == "rotation"]
    _use_entry_points(monkeypatch, [_ep("quitter", "h3_quitter:Quitter"),
                                    _ep("plainconfig", "h3_plainconfig:PlainConfig"), *rotation])
    discover(refresh=True)
    assert main(["validate", "--all"]) == 1
    out = capsys.readouterr().out
    assert "FAIL quitter: exited at import" in out
    assert "FAIL plainconfig: its Config is not a dataclass" in out
    assert "ok   rotation" in out
