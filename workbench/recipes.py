"""Named recipes ("quick", "best") per dataset and method, read from resources/recipes/<dataset>.json."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from importlib import resources

from .config import ConfigError, RunConfig

RECIPE_NAMES = ("quick", "best")
_RUN_FIELDS = frozenset(f.name for f in dataclasses.fields(RunConfig)) - {"method", "dataset", "method_config"}


@dataclass(frozen=True)
class Recipe:
    """Settings found by measurement for one method on one dataset, with what they gave."""

    name: str
    method: str
    dataset: str
    settings: dict = field(default_factory=dict)  # RunConfig fields and the method's own settings
    measured: str = ""  # the result, seconds and load average it was measured at (docs/BENCHMARKS.md)

    def run_settings(self) -> dict:
        """The RunConfig part (epochs, batch_size, lr, optimizer, …)."""
        return {k: v for k, v in self.settings.items() if k in _RUN_FIELDS}

    def method_settings(self, method_config_cls: type) -> dict:
        """The method's own part (temperature, crop_min, …); a key that is neither is an error."""
        known = {f.name for f in dataclasses.fields(method_config_cls)}
        unknown = sorted(set(self.settings) - known - _RUN_FIELDS)
        if unknown:
            raise ConfigError(f"recipe {self.name!r} for {self.method} on {self.dataset} sets unknown "
                              f"setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        return {k: v for k, v in self.settings.items() if k in known}


def _read(dataset: str) -> dict:
    try:
        text = resources.files("resources").joinpath("recipes", f"{dataset}.json").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return {}
    return json.loads(text)


_ENTRY_KEYS = frozenset({"settings", "measured"})


def _checked(name: str, method: str, dataset: str, entry) -> Recipe:
    """One recipe entry as a Recipe; a misspelt key or name would otherwise be dropped silently
    and the run would train on defaults while claiming the recipe."""
    where = f"recipe {name!r} for {method} in resources/recipes/{dataset}.json"
    if name not in RECIPE_NAMES:
        raise ConfigError(f"{where}: the name must be one of {', '.join(RECIPE_NAMES)}")
    if not isinstance(entry, dict) or not isinstance(entry.get("settings"), dict):
        raise ConfigError(f"{where} has no \"settings\" object")
    extra = sorted(set(entry) - _ENTRY_KEYS)
    if extra:
        raise ConfigError(f"{where} has unknown key{'s' if len(extra) > 1 else ''} {', '.join(extra)}; "
                          f"allowed: {', '.join(sorted(_ENTRY_KEYS))}")
    return Recipe(name, method, dataset, dict(entry["settings"]), str(entry.get("measured", "")))


def recipes_for(method: str, dataset: str) -> dict[str, Recipe]:
    """The recipes shipped for this method on this dataset, by name (empty when there are none)."""
    entries = _read(dataset).get("methods", {}).get(method, {})
    return {name: _checked(name, method, dataset, entry) for name, entry in entries.items()}


def find_recipe(name: str, method: str, dataset: str) -> Recipe:
    """The named recipe, or a ConfigError saying which recipes exist for this method and data."""
    found = recipes_for(method, dataset)
    if name in found:
        return found[name]
    if found:
        raise ConfigError(f"no recipe {name!r} for {method} on {dataset}; choose from {', '.join(found)}")
    fitting = sorted(m for m in _read(dataset).get("methods", {}))
    hint = f"recipes on {dataset} exist for {', '.join(fitting)}" if fitting else f"no recipes exist for {dataset}"
    raise ConfigError(f"no recipe {name!r} for {method} on {dataset} ({hint})")


def recipe_defaults(recipe: Recipe | None, method_defaults: dict, method_config: dict,
                    method_config_cls: type) -> tuple[dict, dict]:
    """(run defaults, method settings) with the recipe laid over the method's own preferences;
    what the user sets explicitly is applied after this and wins."""
    if recipe is None:
        return dict(method_defaults), dict(method_config)
    return ({**method_defaults, **recipe.run_settings()},
            {**method_config, **recipe.method_settings(method_config_cls)})
