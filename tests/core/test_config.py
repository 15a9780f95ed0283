"""Tests of workbench.config: validation messages, --set overrides, JSON round trips."""
from __future__ import annotations

import dataclasses
import json

import pytest

from workbench.config import (ConfigError, RunConfig, apply_overrides, describe_fields, from_dict,
                              load_run_config, method_config, new_run_config, save_run_config,
                              setting, validate)


@dataclasses.dataclass
class ToyConfig:
    """A method Config with one field of each kind the parser knows."""

    temperature: float = setting(0.5, "Softmax temperature.", min=0.0, max=10.0, exclusive_min=True)
    proj_dim: int = setting(128, "Projection size.", min=2, max=4096)
    flip: bool = setting(False, "Random flips.")
    mode: str = setting("a", "Mode.", choices=("a", "b"))


# --- validate ---------------------------------------------------------------------------------

def test_defaults_are_valid():
    validate(RunConfig())
    validate(ToyConfig())


def test_negative_lr_names_field_and_range():
    with pytest.raises(ConfigError) as err:
        validate(RunConfig(lr=-1.0))
    msg = str(err.value)
    assert "lr" in msg and "-1" in msg
    assert "> 0" in msg and "<= 10" in msg


def test_lr_zero_is_rejected_by_exclusive_min():
    with pytest.raises(ConfigError, match=r"lr=0.*> 0"):
        validate(RunConfig(lr=0.0))
    validate(RunConfig(lr=1e-9))  # just above the exclusive bound is fine


def test_inclusive_min_accepts_the_bound_and_rejects_below():
    validate(RunConfig(weight_decay=0.0))
    with pytest.raises(ConfigError, match=r"weight_decay.*>= 0"):
        validate(RunConfig(weight_decay=-0.1))


def test_above_max_is_rejected():
    with pytest.raises(ConfigError, match=r"epochs=10001.*<= 10000"):
        validate(RunConfig(epochs=10001))


def test_choice_outside_choices_lists_them():
    with pytest.raises(ConfigError) as err:
        validate(RunConfig(optimizer="rmsprop"))
    msg = str(err.value)
    assert "optimizer" in msg and "rmsprop" in msg
    for choice in ("adam", "adamw", "sgd", "lars"):
        assert choice in msg


def test_nan_is_rejected():
    with pytest.raises(ConfigError, match=r"lr=nan"):
        validate(RunConfig(lr=float("nan")))


def test_infinity_is_out_of_range():
    with pytest.raises(ConfigError, match="lr"):
        validate(RunConfig(lr=float("inf")))


@pytest.mark.parametrize("value", ["0.1", "abc", True, [1]])
def test_wrong_type_for_number_is_rejected(value):
    with pytest.raises(ConfigError, match=r"lr=.*not a number"):
        validate(RunConfig(lr=value))


def test_int_field_accepts_int_rejects_string():
    validate(RunConfig(batch_size=64))
    with pytest.raises(ConfigError, match="batch_size"):
        validate(RunConfig(batch_size="64"))


def test_none_values_are_skipped():
    validate(RunConfig(data_root=None))


# --- apply_overrides --------------------------------------------------------------------------

def test_override_method_field_goes_to_method_config():
    run = apply_overrides(RunConfig(), ToyConfig, ["temperature=0.2"])
    assert run.method_config == {"temperature": 0.2}
    assert isinstance(run.method_config["temperature"], float)


def test_override_run_field_sets_runconfig():
    run = apply_overrides(RunConfig(), ToyConfig, ["lr=0.01", "epochs=3"])
    assert run.lr == 0.01 and run.epochs == 3
    assert isinstance(run.epochs, int)
    assert run.method_config == {}


def test_method_prefix_is_accepted():
    run = apply_overrides(RunConfig(), ToyConfig, ["method.proj_dim=64"])
    assert run.method_config == {"proj_dim": 64}


def test_override_keeps_existing_method_values():
    run = RunConfig(method_config={"proj_dim": 32})
    run = apply_overrides(run, ToyConfig, ["temperature=1"])
    assert run.method_config == {"proj_dim": 32, "temperature": 1.0}


@pytest.mark.parametrize("text, expected", [("true", True), ("1", True), ("yes", True), ("on", True),
                                            ("false", False), ("0", False), ("No", False), ("off", False)])
def test_bool_parsing(text, expected):
    run = apply_overrides(RunConfig(), ToyConfig, [f"flip={text}", f"amp={text}"])
    assert run.method_config["flip"] is expected
    assert run.amp is expected


def test_bad_bool_is_an_error():
    with pytest.raises(ConfigError, match="flip"):
        apply_overrides(RunConfig(), ToyConfig, ["flip=maybe"])


def test_bad_int_and_float_are_errors():
    with pytest.raises(ConfigError, match=r"epochs='three'.*int"):
        apply_overrides(RunConfig(), ToyConfig, ["epochs=three"])
    with pytest.raises(ConfigError, match=r"lr='fast'.*float"):
        apply_overrides(RunConfig(), ToyConfig, ["lr=fast"])
    with pytest.raises(ConfigError, match="proj_dim"):
        apply_overrides(RunConfig(), ToyConfig, ["proj_dim=1.5"])


def test_float_parsing_accepts_scientific():
    run = apply_overrides(RunConfig(), ToyConfig, ["lr=3e-4"])
    assert run.lr == pytest.approx(3e-4)


def test_none_for_optional_string():
    run = apply_overrides(RunConfig(data_root="/x"), ToyConfig, ["data_root=none"])
    assert run.data_root is None


def test_unknown_key_lists_known_keys():
    with pytest.raises(ConfigError) as err:
        apply_overrides(RunConfig(), ToyConfig, ["tempreature=0.1"])
    msg = str(err.value)
    assert "tempreature" in msg
    for known in ("temperature", "proj_dim", "lr", "epochs", "batch_size"):
        assert known in msg
    assert "method_config" not in msg


@pytest.mark.parametrize("key", ["method", "method_config"])
def test_method_and_method_config_are_not_settable(key):
    with pytest.raises(ConfigError, match="unknown setting"):
        apply_overrides(RunConfig(), ToyConfig, [f"{key}=rotation"])


@pytest.mark.parametrize("pair", ["lr", "=0.1", ""])
def test_missing_equals_or_key(pair):
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(RunConfig(), ToyConfig, [pair])


# --- from_dict / to_dict ----------------------------------------------------------------------

def test_from_dict_unknown_keys_named_with_known():
    with pytest.raises(ConfigError) as err:
        from_dict(ToyConfig, {"temperature": 0.1, "bogus": 1, "other": 2}, where="method 'toy'")
    msg = str(err.value)
    assert "bogus" in msg and "other" in msg and "method 'toy'" in msg
    assert "temperature" in msg and "proj_dim" in msg


def test_from_dict_converts_int_to_float_and_list_to_tuple():
    cfg = from_dict(ToyConfig, {"temperature": 1})
    assert isinstance(cfg.temperature, float)
    run = from_dict(RunConfig, {"epochs": 3})
    assert run.epochs == 3 and isinstance(run.epochs, int)


# --- save / load ------------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    run = RunConfig(method="rotation", dataset="digits", lr=0.02, epochs=4, amp=False,
                    data_root="/data", method_config={"hidden": 0})
    path = tmp_path / "config.json"
    save_run_config(run, path)
    assert json.loads(path.read_text())["lr"] == 0.02
    assert not list(tmp_path.glob("*.tmp"))
    loaded = load_run_config(path)
    assert loaded == run


def test_load_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_run_config(tmp_path / "nope.json")


def test_load_bad_json(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"lr": 0.1,')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_run_config(path)


def test_load_non_dict_json(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="does not hold a run configuration"):
        load_run_config(path)


def test_load_unknown_key_and_invalid_value(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"lr": 0.1, "nonsense": 1}))
    with pytest.raises(ConfigError, match="nonsense"):
        load_run_config(path)
    path.write_text(json.dumps({"lr": -5}))
    with pytest.raises(ConfigError, match="lr"):
        load_run_config(path)


# --- new_run_config ---------------------------------------------------------------------------

def test_new_run_config_layers_defaults_then_explicit():
    run = new_run_config("simclr", "digits", {"batch_size": 128, "lr": 0.01}, lr=0.5, epochs=None)
    assert run.method == "simclr" and run.dataset == "digits"
    assert run.batch_size == 128        # method preference over the global default (256)
    assert run.lr == 0.5                # explicit value wins over the method's
    assert run.epochs == RunConfig().epochs  # None explicit values are ignored


def test_new_run_config_none_does_not_override_method_default():
    run = new_run_config("simclr", "mnist5k", {"batch_size": 64}, batch_size=None)
    assert run.batch_size == 64


def test_new_run_config_unknown_key():
    with pytest.raises(ConfigError, match="warp_speed"):
        new_run_config("simclr", "mnist5k", None, warp_speed=9)


# --- describe_fields --------------------------------------------------------------------------

def test_describe_fields():
    rows = {r["name"]: r for r in describe_fields(ToyConfig)}
    assert list(rows) == ["temperature", "proj_dim", "flip", "mode"]
    assert rows["temperature"] == {"name": "temperature", "type": "float", "default": 0.5,
                                   "help": "Softmax temperature.", "min": 0.0, "max": 10.0,
                                   "choices": None, "exclusive_min": True, "label": None}
    assert rows["proj_dim"]["type"] == "int"
    assert rows["flip"]["type"] == "bool"
    assert rows["mode"]["choices"] == ("a", "b")
    run_rows = {r["name"]: r for r in describe_fields(RunConfig)}
    assert run_rows["data_root"]["type"] == "str"  # Optional[str] -> str
    assert run_rows["method_config"]["default"] == {}
    assert all(r["help"] for r in run_rows.values())


def test_mutable_default_is_not_shared():
    a, b = RunConfig(), RunConfig()
    a.method_config["x"] = 1
    assert b.method_config == {}


# --- method_config with a real plugin ---------------------------------------------------------

def test_simclr_temperature_negative_raises_with_range():
    from plugins.simclr import SimCLR

    run = RunConfig(method="simclr", method_config={"temperature": -1})
    with pytest.raises(ConfigError) as err:
        method_config(run, SimCLR.Config)
    msg = str(err.value)
    assert "temperature" in msg and "> 0" in msg and "<= 10" in msg


def test_simclr_method_config_builds_valid_config():
    from plugins.simclr import SimCLR

    cfg = method_config(RunConfig(method="simclr", method_config={"temperature": 0.1}), SimCLR.Config)
    assert cfg.temperature == 0.1 and cfg.proj_dim == SimCLR.Config().proj_dim


def test_simclr_method_config_unknown_key():
    from plugins.simclr import SimCLR

    with pytest.raises(ConfigError, match=r"bogus.*simclr"):
        method_config(RunConfig(method="simclr", method_config={"bogus": 1}), SimCLR.Config)


@pytest.mark.parametrize("name, value", [("batch_size", 64.5), ("epochs", 2.5)])
def test_non_integer_for_int_field_is_rejected(name, value):
    with pytest.raises(ConfigError, match=name):
        validate(RunConfig(**{name: value}))


def test_seed_range_prints_as_a_whole_number():
    run = RunConfig(seed=2**31)
    with pytest.raises(ConfigError) as err:
        validate(run)
    msg = str(err.value)
    assert "seed=2147483648 is out of range" in msg and "<= 2147483647" in msg
    assert "e+09" not in msg


def test_fractional_bounds_keep_their_short_form():
    with pytest.raises(ConfigError, match=r"momentum=1.5 is out of range; allowed: >= 0 and <= 0.999"):
        validate(RunConfig(momentum=1.5))
