"""ssl-workbench sweep: trials are normal run folders, ranked by kNN, within the trial and time limits."""
from __future__ import annotations

import json

import pytest

from workbench.cli import main
from workbench.config import ConfigError, load_run_config
from workbench.runs import list_runs
from workbench.sweep import Trial, format_table, rank, search_space


def test_search_space_follows_the_method():
    from workbench.registry import get_method
    assert {"lr", "batch_size", "temperature", "crop_min"} <= set(search_space(get_method("simclr").Config))
    assert "temperature" not in search_space(get_method("vicreg").Config)
    with pytest.raises(ConfigError, match="temperature"):
        search_space(get_method("vicreg").Config, ["temperature"])


def test_search_space_moves_views_where_the_method_can():
    """`shift` (move a view without rescaling it) is swept by the view methods, inside each one's
    own bounds, and refused for a method without it."""
    import dataclasses

    from workbench.registry import get_method
    for name in ("simclr", "byol", "vicreg", "moco", "exemplar_cnn"):
        cls = get_method(name).Config
        kind, low, high = search_space(cls, ["shift"])["shift"]
        meta = {f.name: f.metadata for f in dataclasses.fields(cls)}["shift"]
        assert kind == "float" and meta["min"] <= low < high <= meta["max"], name
    with pytest.raises(ConfigError, match="shift"):
        search_space(get_method("rotation").Config, ["shift"])
    assert search_space(get_method("simclr").Config, ["crop_min"])["crop_min"][2] == 1.0  # whole images too


def test_a_sweep_trial_trains_with_the_shift_it_drew(tmp_path, monkeypatch):
    """Every trial's run folder holds the shift Optuna drew (the worker is replaced: no training)."""
    import workbench.worker
    seen = []

    def fake_worker(run_dir, commands=None):
        seen.append(load_run_config(run_dir / "config.json").method_config["shift"])
        return 0
    monkeypatch.setattr(workbench.worker, "run_worker", fake_worker)
    from workbench.sweep import run_sweep
    trials = run_sweep("simclr", "digits", budget_s=60, max_trials=3, runs_root=tmp_path, names=["shift"],
                       device="cpu", sampler="random")
    assert len(trials) == 3 and len(set(seen)) == 3 and all(0.0 <= s <= 0.4 for s in seen)
    assert sorted(t.settings["shift"] for t in trials) == sorted(seen)


def test_rank_puts_the_best_knn_first_and_unscored_last(tmp_path):
    trials = [Trial(1, tmp_path / "a", {}, knn=0.5), Trial(2, tmp_path / "b", {}, knn=None, status="failed"),
              Trial(3, tmp_path / "c", {}, knn=0.7, linear=0.8), Trial(4, tmp_path / "d", {}, knn=0.7, linear=0.9)]
    assert [t.number for t in rank(trials)] == [4, 3, 1, 2]
    table = format_table(rank(trials))
    assert table.splitlines()[2].startswith("| 1 | 4 | 0.7000 | 0.9000 |") and "(failed)" in table


def test_sweep_bad_budget_is_one_line_exit_2(capsys):
    assert main(["sweep", "--budget", "0"]) == 2
    assert "--budget" in capsys.readouterr().err


@pytest.mark.slow  # trains two runs
def test_sweep_runs_two_trials_and_ranks_them(tmp_path, capsys):
    assert main(["sweep", "--method", "simclr", "--dataset", "digits", "--trials", "2", "--budget", "600",
                 "--epochs", "1", "--params", "lr,temperature", "--sampler", "random", "--device", "cpu",
                 "--set", "backbone=mlp", "--set", "batch_size=256", "--set", "probe_size=100",
                 "--set", "linear_probe=false", "--runs-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| rank")]
    assert len(rows) == 2
    knns = [float(r.split("|")[3]) for r in rows]
    assert knns == sorted(knns, reverse=True) and all(0.1 < k <= 1.0 for k in knns)
    runs = list_runs(tmp_path)  # every trial is a run the Runs tab lists
    assert len(runs) == 2
    temperatures = {load_run_config(r.path / "config.json").method_config["temperature"] for r in runs}
    assert len(temperatures) == 2  # the two trials tried different settings
    summary = json.loads(next((tmp_path / "sweeps").glob("*.json")).read_text())
    assert [t["knn"] for t in summary["trials"]] == knns
