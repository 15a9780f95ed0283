"""Evaluate a saved run (kNN, linear probe, label efficiency, RankMe, per-factor probes and analogies on data with
factors) next to floors measured in the same call."""
from __future__ import annotations

import math
from pathlib import Path

import torch

from .analogies import analogy_report
from .build import load_from_run
from .diagnostics import embedding_diagnostics, factor_chance, factor_probes, label_efficiency, rankme, \
    view_embeddings
from .embeddings import compute_embeddings
from .evaluate import collapse_metrics, knn_top1, linear_probe
from .floor_scores import DATA_KEYS, cached_scores
from .floors import floors_key, random_init
from .measures import method_measures
from .trainer import embed_all
from .verdict import judge_evaluation


def _scores(train: torch.Tensor, test: torch.Tensor, y_train, y_test, linear: bool, seed: int) -> dict:
    knn = knn_top1(train, y_train, test, y_test, ks=(20, 200))
    out = {"knn_top1": round(knn[20], 4), "knn_top1_k200": round(knn[200], 4),
           "rankme": round(rankme(test), 3)}
    if linear:
        out["linear_top1"] = round(linear_probe(train.numpy(), y_train.numpy(), test.numpy(),
                                                y_test.numpy(), seed=seed), 4)
        # linear-probe top-1 with 1 %, 10 % and 100 % of the training labels (100 %: the probe above)
        out["label_efficiency"] = {**label_efficiency(train.numpy(), y_train.numpy(), test.numpy(), y_test.numpy(),
                                                      fractions=(0.01, 0.1), seed=seed),
                                   "1.0": None if math.isnan(out["linear_top1"]) else out["linear_top1"]}
    return out


def _add_measures(target: dict, method, loaded) -> None:
    """The method's own measures (Method.measures: a test likelihood beside its floor, zero-shot
    accuracy) under target["measures"], for methods that have them; given the random-init model,
    they are the floor of measures that have none of their own."""
    measures = method_measures(method, loaded.dataset, loaded.device)
    if measures:
        target["measures"] = measures


def _add_verdict(result: dict) -> None:
    """result["verdict"]: whether the run beats its floor by the one judge bench/methods.py uses
    (its own measures first, then kNN, then ρ outside its noise band; beats None = within noise)."""
    v = judge_evaluation(result)
    result["verdict"] = {"beats_floor": v.beats, "decided_by": v.decided_by}


def _factor_probes(train: torch.Tensor, test: torch.Tensor, d, seed: int) -> dict:
    """A linear probe per known factor (shape, colour, …): which factors the embedding holds."""
    return factor_probes(train.numpy(), d.factors_train, test.numpy(), d.factors_test, seed=seed)


def _evaluate_words(run_dir: Path, loaded, floors: bool) -> dict:
    """Text runs: WordSim-353 / SimLex-999 Spearman ρ and analogy top-1 over the vocabulary,
    with the random-init floor of the same method and settings (floors.random_init: the dashboard's)."""
    from .wordsim import benchmark_report
    d, run = loaded.dataset, loaded.run
    vectors = embed_all(loaded.method, d.x_test, loaded.device)
    result = {
        "run": str(run_dir), "method": run.method, "dataset": run.dataset,
        "checkpoint": str(loaded.checkpoint), "step": loaded.step, "epoch": loaded.epoch,
        "vocabulary": len(d.spec.vocab), "model": benchmark_report(vectors.numpy(), d.spec.vocab),
        "collapse": {k: round(v, 4) for k, v in collapse_metrics(vectors).items()},
    }
    _add_measures(result, loaded.method, loaded)
    if floors:
        fresh_method, fresh = random_init(run, d, loaded.device, splits=("test",))
        result["floor_random_init"] = floor = benchmark_report(fresh["test"].numpy(), d.spec.vocab)
        _add_measures(floor, fresh_method, loaded)
        model_rho, floor_rho = result["model"]["wordsim353_rho"], floor["wordsim353_rho"]
        if model_rho is not None and floor_rho is not None:
            result["beats_random_init"] = model_rho > floor_rho
        _add_verdict(result)
    return result


def evaluate_run(run_dir: Path, checkpoint: str = "best", linear: bool = True,
                 floors: bool = True, device: str = "auto", factors: bool = True) -> dict:
    """kNN (k=20, 200), linear-probe top-1, label efficiency (the probe with 1 %, 10 %, 100 % of
    the labels), RankMe and, on data with factors, a probe per factor (factors=False leaves them
    out: a probe per factor on the raw pixels is most of the time on `shapes`), of a run's
    checkpoint, with honest floors: raw pixels, and the run's method and settings at random init
    (seed FLOOR_SEED, read through its `embed`: floors.random_init, the figure the dashboard draws).
    Text runs get word benchmarks instead (_evaluate_words)."""
    loaded = load_from_run(run_dir, checkpoint, device)
    d, run = loaded.dataset, loaded.run
    if d.spec.modality == "text":  # unlabelled words: word benchmarks instead of kNN and the probe
        return _evaluate_words(run_dir, loaded, floors)
    train = embed_all(loaded.method, d.x_train, loaded.device)
    test = embed_all(loaded.method, d.x_test, loaded.device)
    result = {
        "run": str(run_dir), "method": run.method, "dataset": run.dataset,
        "checkpoint": str(loaded.checkpoint), "step": loaded.step, "epoch": loaded.epoch,
        "model": _scores(train, test, d.y_train, d.y_test, linear, run.seed),
        "collapse": {k: round(v, 4) for k, v in collapse_metrics(test).items()},
        "diagnostics": embedding_diagnostics(test, view_embeddings(loaded.method, d.x_test[:2000],
                                                                   loaded.device, seed=run.seed)),
    }
    _add_measures(result, loaded.method, loaded)
    result["rankme"] = result["model"]["rankme"]
    if "label_efficiency" in result["model"]:
        result["label_efficiency"] = result["model"]["label_efficiency"]
    per_factor = bool(d.factors_test and d.factors_train and linear and factors)
    if floors:
        # the data as a method sees it: pixels in [0, 1], standardised sequences as they are
        raw_train, raw_test = (torch.from_numpy(compute_embeddings(lambda xb: xb.flatten(1), x))
                               for x in (d.x_train, d.x_test))  # read in blocks (data kept on disk)
        fresh, fresh_feats = random_init(run, d, loaded.device)
        fresh_train, fresh_test = fresh_feats["train"], fresh_feats["test"]

        def floor_scores(f_train, f_test, method=None):
            scores = _scores(f_train, f_test, d.y_train, d.y_test, linear, run.seed)
            if method is not None:
                _add_measures(scores, method, loaded)
            if per_factor:
                scores["factors"] = _factor_probes(f_train, f_test, d, run.seed)
            return scores

        # The floors do not change from run to run on the same data (and method, for random init), and their
        # probes are most of an eval's time (a probe per factor on 3,072 raw pixels on shapes): measured once.
        data_key = floors_key(run)
        asked = {"rows": [len(d.x_train), len(d.x_test)], "seed": run.seed, "linear": linear,
                 "factors": per_factor, "device": loaded.device.type}
        raw_key = {"floor": "raw", **{k: data_key[k] for k in DATA_KEYS if k in data_key}, **asked}
        result["floor_raw_pixels"] = cached_scores(raw_key, lambda: floor_scores(raw_train, raw_test))
        result["floor_random_init"] = cached_scores({"floor": "random init", **data_key, **asked},
                                                    lambda: floor_scores(fresh_train, fresh_test, fresh))
        result["beats_random_init"] = result["model"]["knn_top1"] > result["floor_random_init"]["knn_top1"]
        _add_verdict(result)
    if per_factor:  # what was learnt, factor by factor
        result["factors"] = _factor_probes(train, test, d, run.seed)
        result["factors_chance"] = factor_chance(d.factors_test)
    if d.factors_test:  # ground-truth factors: a − b + c has a known answer on the test split
        embeddings = {"model": test.numpy()}
        if floors:
            embeddings.update(floor_raw_pixels=raw_test.numpy(), floor_random_init=fresh_test.numpy())
        report = analogy_report(embeddings, d.factors_test)  # fixed queries, comparable across runs
        if report:
            result["analogies"] = report
    return result
