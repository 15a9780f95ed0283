"""`eval` measures each floor once per data, method and seed: a second eval reads its scores from the cache."""
from __future__ import annotations

import json

import pytest

import workbench.assess as assess
from workbench.config import RunConfig
from workbench.floor_scores import cached_scores, scores_path


def _untrained_run(tmp_path, **settings):
    from workbench.build import build_method
    from workbench.checkpoint import save_checkpoint
    from workbench.data import load_dataset
    from workbench.runs import create_run_dir
    cfg = RunConfig(method="simclr", dataset="digits", backbone="mlp", image_size=8, threads=1, device="cpu",
                    **settings)
    run = create_run_dir(cfg, path=tmp_path / f"run-{cfg.seed}")
    model = build_method(cfg, load_dataset("digits", image_size=cfg.image_size))  # untrained weights will do: the floors are the point
    save_checkpoint({"model": model.state_dict(), "step": 1, "epoch": 1}, run / "checkpoints" / "last.pt")
    return run


@pytest.fixture
def probes(monkeypatch, tmp_path):
    """Counts the embeddings `eval` scores (kNN, RankMe, probes: one call each), with a cache of its own."""
    monkeypatch.setenv("SSL_WORKBENCH_CACHE", str(tmp_path / "cache"))
    scored = []
    real = assess._scores

    def counting(*args, **kwargs):
        scored.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(assess, "_scores", counting)
    return scored


@pytest.mark.slow  # four evals of a small run
def test_a_second_eval_reads_the_floors_from_the_cache_and_prints_the_same(tmp_path, probes):
    run = _untrained_run(tmp_path)
    first = assess.evaluate_run(run, "last", linear=False, device="cpu")
    assert len(probes) == 3  # the model, raw pixels, random init
    second = assess.evaluate_run(run, "last", linear=False, device="cpu")
    assert len(probes) == 4  # only the model again
    assert second == first
    # the probes depend on the seed (and their label-efficiency subsets): measured again for another
    assess.evaluate_run(_untrained_run(tmp_path, seed=5), "last", linear=False, device="cpu")
    assert len(probes) == 7
    assess.evaluate_run(run, "last", linear=True, device="cpu")  # probes asked now: not in the stored scores
    assert len(probes) == 10


def test_an_unreadable_or_foreign_entry_is_measured_again(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_WORKBENCH_CACHE", str(tmp_path / "cache"))
    key = {"floor": "raw", "dataset": "digits", "seed": 0}
    assert cached_scores(key, lambda: {"knn_top1": 0.5}) == {"knn_top1": 0.5}
    assert cached_scores(key, lambda: pytest.fail("measured twice")) == {"knn_top1": 0.5}
    path = scores_path(json.loads(json.dumps({"format": 1, **key})))
    assert path.is_file()
    path.write_text("{half a file", encoding="utf-8")
    assert cached_scores(key, lambda: {"knn_top1": 0.25}) == {"knn_top1": 0.25}
    # a stored entry whose key differs (a digest collision, a hand-edited file) is not trusted
    path.write_text(json.dumps({"key": {"other": 1}, "scores": {"knn_top1": 0.9}}), encoding="utf-8")
    assert cached_scores(key, lambda: {"knn_top1": 0.125}) == {"knn_top1": 0.125}


def test_a_cache_that_cannot_be_written_still_gives_the_scores(tmp_path, monkeypatch):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setenv("SSL_WORKBENCH_CACHE", str(blocked))  # mkdir under a file fails
    assert cached_scores({"floor": "raw"}, lambda: {"knn_top1": float("nan")})["knn_top1"] != 0
