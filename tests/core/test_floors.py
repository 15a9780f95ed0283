"""Floors measured once per data, method and backbone and cached, the same random-init figure as `eval`'s; how noisy
small evaluations are; verdict hysteresis."""
from __future__ import annotations

import json
import math

import pytest

from workbench.analysis import collapse_verdict
from workbench.config import RunConfig
from workbench.floors import (FLOOR_SEED, RANDOM_NAME, accuracy_noise, floor_knn, floors_key, floors_path,
                              measure_floors, read_floors, rho_noise, throughput_unit)


def test_floors_are_keyed_by_what_the_random_init_embed_reads_not_by_seed():
    a = floors_key(RunConfig(method="simclr", dataset="digits", seed=1))
    assert a == floors_key(RunConfig(method="simclr", dataset="digits", seed=7))  # the floor's model has FLOOR_SEED
    assert a != floors_key(RunConfig(method="simclr", dataset="digits", backbone="mlp"))
    assert a != floors_key(RunConfig(method="simclr", dataset="digits", image_size=16))
    # one backbone, two readings: the method and its settings choose what `embed` returns
    assert a != floors_key(RunConfig(method="byol", dataset="digits"))
    codes = RunConfig(method="cpc_sequence", dataset="signals", method_config={"embedding": "codes"})
    context = RunConfig(method="cpc_sequence", dataset="signals", method_config={"embedding": "context"})
    assert codes.backbone == context.backbone and floors_key(codes) != floors_key(context)
    assert floors_path(floors_key(codes)) != floors_path(floors_key(context))
    # text methods own their embedding tables: no host backbone, no image size
    w = floors_key(RunConfig(method="word2vec", dataset="lee"))
    assert w["method"] == "word2vec" and "backbone" not in w and "image_size" not in w


def test_noise_of_small_evaluations():
    # Fisher's z with Spearman's variance 1.06 / (n − 3), back in ρ's units: the Lee corpus covers 60 WordSim pairs
    assert rho_noise(60) == pytest.approx(math.tanh(1.96 * (1.06 / 57) ** 0.5)) == pytest.approx(0.261, abs=1e-3)
    assert rho_noise(1003) == pytest.approx(0.064, abs=1e-3)
    assert rho_noise(3) is None
    assert accuracy_noise(359) == pytest.approx(0.052, abs=0.001)


def test_units_per_modality():
    assert [throughput_unit(m) for m in ("image", "sequence", "text")] == ["images/s", "sequences/s", "words/s"]


def test_verdict_bands_have_hysteresis():
    assert collapse_verdict(0.31, 40.0, 128).startswith("Healthy")
    assert collapse_verdict(0.28, 40.0, 128).startswith("Bunched")  # no history: the plain line
    assert collapse_verdict(0.28, 40.0, 128, previous="Healthy").startswith("Healthy")  # noise does not flip it
    assert collapse_verdict(0.26, 40.0, 128, previous="Healthy").startswith("Bunched")
    assert collapse_verdict(0.32, 40.0, 128, previous="Bunched").startswith("Bunched")
    assert collapse_verdict(0.34, 40.0, 128, previous="Bunched").startswith("Healthy")
    assert collapse_verdict(0.01, 1.1, 128, previous="Healthy").startswith("Collapsed")  # far past: no memory


@pytest.mark.slow
def test_measure_floors_caches_what_the_cli_prints(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SSL_WORKBENCH_CACHE", str(tmp_path / "cache"))
    from workbench.cli import main
    from workbench.runs import create_run_dir
    cfg = RunConfig(method="simclr", dataset="digits", backbone="mlp", threads=1)
    run = create_run_dir(cfg, path=tmp_path / "run")
    assert read_floors(cfg) is None
    result = measure_floors(cfg)
    names = [f["name"] for f in result["floors"]]
    assert names == ["raw pixels", "random init"]
    raw = result["floors"][0]["knn_top1"]
    assert 0.9 < raw <= 1.0  # 8×8 digits are easy from pixels
    assert json.loads(floors_path(floors_key(cfg)).read_text())["floors"] == result["floors"]
    assert read_floors(cfg)["floors"] == result["floors"]
    assert main(["floors", str(run)]) == 0
    assert f"raw pixels {100 * raw:.1f} %" in capsys.readouterr().out
    assert main(["floors", str(tmp_path / "nothing")]) == 2


@pytest.mark.slow  # embeds the signals' 8,000 sequences three times (~25 s of CPU)
def test_the_dashboards_random_init_floor_is_evals(tmp_path, monkeypatch, one_torch_thread):
    """CPC read through its window codes: the cached floor (dashboard, Runs tab, `floors`) and `eval`'s
    floor_random_init are one model (the method at random init, FLOOR_SEED) read through `embed`, whatever
    the run's seed; a random backbone over the whole signal (the floor before) scored 0.943 against 0.800."""
    monkeypatch.setenv("SSL_WORKBENCH_CACHE", str(tmp_path / "cache"))
    from workbench.assess import evaluate_run
    from workbench.build import build_method
    from workbench.checkpoint import save_checkpoint
    from workbench.data import load_dataset
    from workbench.runs import create_run_dir
    cfg = RunConfig(method="cpc_sequence", dataset="signals", method_config={"embedding": "codes"},
                    seed=FLOOR_SEED + 3, threads=1, device="cpu")
    run = create_run_dir(cfg, path=tmp_path / "run")
    model = build_method(cfg, load_dataset("signals"))  # the run's own weights (its seed); untrained will do
    save_checkpoint({"model": model.state_dict(), "step": 1, "epoch": 1}, run / "checkpoints" / "last.pt")
    dashboard = floor_knn(measure_floors(cfg), RANDOM_NAME)
    result = evaluate_run(run, "last", linear=False, device="cpu", factors=False)
    assert result["floor_random_init"]["knn_top1"] == dashboard
    assert result["model"]["knn_top1"] != dashboard  # the run's seed gives another model: the floor did not take it
