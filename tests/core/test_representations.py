"""eval and the trainer's eval events report RankMe, label efficiency, per-factor probes and diagnostics."""
from __future__ import annotations

import json

import pytest

from workbench.cli import main
from workbench.events import read_events

TINY = ["--epochs", "1", "--device", "cpu", "--set", "probe_size=100", "--set", "linear_probe=false", "--quiet"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("repr") / "digits"
    assert main(["train", "--method", "simclr", "--dataset", "digits", "--batch-size", "128", "--backbone", "mlp",
                 "--run-dir", str(run_dir), *TINY]) == 0
    return run_dir


@pytest.mark.slow  # trains a run
def test_eval_events_carry_diagnostics_and_the_online_probe(digits_run):
    evals = [e for e in read_events(digits_run) if e["type"] == "eval" and "knn_top1" in e]
    assert evals
    diag = evals[-1]["diagnostics"]
    assert set(diag) >= {"rankme", "alignment", "uniformity", "normalised_std", "std_ratio"}
    assert 1.0 <= diag["rankme"] <= 512
    assert 0.0 <= diag["alignment"] <= 4.0 and -4.0 <= diag["uniformity"] <= 0.0
    assert 0.1 < evals[-1]["probe_top1"] <= 1.0  # 10 digit classes: chance is 0.1


@pytest.mark.slow  # trains a run
def test_eval_json_has_rankme_and_label_efficiency_for_model_and_floors(digits_run, capsys):
    assert main(["eval", str(digits_run), "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rankme"] == result["model"]["rankme"] and result["rankme"] >= 1.0
    assert list(result["label_efficiency"]) == ["0.01", "0.1", "1.0"]
    for key in ("model", "floor_raw_pixels", "floor_random_init"):
        efficiency = result[key]["label_efficiency"]
        assert all(0.0 < v <= 1.0 for v in efficiency.values()), key
        assert efficiency["1.0"] == result[key]["linear_top1"], key  # 100 % of labels is the probe
        assert efficiency["0.01"] <= efficiency["1.0"], key
    assert {"alignment", "uniformity", "rankme"} <= set(result["diagnostics"])
    assert "factors" not in result  # digits have no known factors


@pytest.fixture
def small_shapes(monkeypatch):
    """shapes drawn at 1,440 train and 720 test images (every shape x colour x size 20 and 10 times)
    instead of 6,000 and 2,000: eval's logistic probes per factor scale with the split, and took
    most of this test's ~100 s; the factors, their codes and the drawing are the same."""
    from workbench import data
    from workbench.data import shapes

    monkeypatch.setattr(shapes, "load_shapes", lambda: shapes._shapes_dataset(
        "shapes", (1440, shapes.TRAIN_SEED), (720, shapes.TEST_SEED)))
    monkeypatch.setattr(data, "_CACHE", {})  # neither take the full set from it nor leave the slice in it


@pytest.mark.slow  # trains a run
def test_eval_reports_a_probe_per_factor_on_shapes(tmp_path, capsys, small_shapes):
    run_dir = tmp_path / "shapes"
    assert main(["train", "--method", "autoencoder", "--dataset", "shapes", "--backbone", "mlp",
                 "--batch-size", "512", "--run-dir", str(run_dir), *TINY]) == 0
    capsys.readouterr()
    scores = [e for e in read_events(run_dir) if e["type"] == "eval" and "knn_top1" in e][-1]["scores"]
    for factor in ("shape", "colour", "size"):  # the online probe per factor, drawn on the dashboard
        assert 0.0 <= scores[f"online probe top-1 · {factor}"] <= 1.0
    assert "analogy top-1" in scores and next(iter(scores)) == "analogy top-1"  # the Runs tab's headline
    assert main(["eval", str(run_dir), "--device", "cpu", "--no-floors"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["factors"]) == {"shape", "colour", "size", "x", "y", "rotation"}
    assert all(0.0 <= v <= 1.0 for v in result["factors"].values())
    # colour is one linear read of the pixels: even one epoch of an autoencoder holds it
    assert result["factors"]["colour"] > result["factors_chance"]["colour"] + 0.3
