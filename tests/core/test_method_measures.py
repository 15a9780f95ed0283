"""A method's own measures (the one hook, Method.measures): read over the splits by workbench.measures, carried by eval
events, drawn as terms, and in `ssl-workbench eval` once, for the model and its random-init floor."""
from __future__ import annotations

import math

import numpy as np
import torch

from workbench import assess, build
from workbench.api import Method
from workbench.build import Loaded
from workbench.config import new_run_config
from workbench.curves import RunCurves, summarize_event
from workbench.data.base import make_dataset
from workbench.event_schema import check_event
from workbench.events import make_event
from workbench.measures import method_measures


class _Counting(Method):
    """Reports the mean pixel of each split, and a NaN that must be dropped."""

    def measures(self, batches):
        assert not torch.is_grad_enabled() and not self.training
        means = {s: torch.cat([b.x for b in batches(s)]).mean().item() for s in ("train", "test")}
        return {"train mean": means["train"], "test mean": means["test"], "broken": math.nan}


def test_method_measures_read_both_splits_as_model_input_and_drop_non_finite():
    x_train = torch.full((5, 1, 2, 2), 255, dtype=torch.uint8)
    x_test = torch.zeros((3, 1, 2, 2), dtype=torch.uint8)
    data = make_dataset("toy", x_train, torch.zeros(5), x_test, torch.zeros(3), ["a"])
    method = _Counting(None, torch.nn.Identity(), 4, data.spec)
    method.train()
    assert method_measures(method, data, torch.device("cpu")) == {"train mean": 1.0, "test mean": 0.0}
    assert method.training  # given back in the mode it came in


class _FromDataset(Method):
    """Reads the loaded dataset itself (as CLIP's zero-shot reads the test factors): a weight times
    the number of test rows, so a random-init floor differs from the model."""

    def __init__(self, *args):
        super().__init__(*args)
        self.weight = torch.nn.Parameter(torch.tensor(1.0))

    def embed(self, x):
        return x.flatten(1).float() * self.weight

    def measures(self, batches):
        return {"rows seen": float(self.weight) * len(batches.dataset.x_test)}


def _toy_images(n: int = 40):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=g)
    y = torch.arange(n) % 2
    return make_dataset("toy", x, y, x[:20], y[:20], ["a", "b"])


def test_the_measures_get_the_loaded_dataset_beside_the_batches():
    data = _toy_images()
    method = _FromDataset(None, torch.nn.Identity(), 64, data.spec)
    assert method_measures(method, data, torch.device("cpu")) == {"rows seen": 20.0}


def test_eval_reports_the_measures_once_for_the_model_and_its_random_init_floor(monkeypatch, tmp_path):
    data = _toy_images()
    trained = _FromDataset(None, torch.nn.Identity(), 64, data.spec)
    with torch.no_grad():
        trained.weight.fill_(2.0)
    run = new_run_config("toy", "toy", {}, epochs=1)
    loaded = Loaded(run, trained, data, torch.device("cpu"), tmp_path / "last.pt", 5, 1)
    monkeypatch.setattr(assess, "load_from_run", lambda *a, **k: loaded)
    monkeypatch.setattr(build, "build_method", lambda *a, **k: _FromDataset(None, torch.nn.Identity(), 64, data.spec))
    result = assess.evaluate_run(tmp_path, "last", linear=False, floors=True, device="cpu")
    assert result["measures"] == {"rows seen": 40.0}
    assert result["floor_random_init"]["measures"] == {"rows seen": 20.0}
    assert "rows seen" not in result["model"] and "measures" not in result["floor_raw_pixels"]  # once, not twice


def test_eval_leaves_the_per_factor_probes_out_when_asked(monkeypatch, tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=g)
    y = torch.arange(40) % 2
    codes = {"size": (np.arange(40) // 2 % 2)}
    data = make_dataset("toy", x, y, x[:20], y[:20], ["a", "b"], factors={"size": ["small", "large"]},
                        factors_train=codes, factors_test={"size": codes["size"][:20]})
    run = new_run_config("toy", "toy", {}, epochs=1)
    loaded = Loaded(run, _FromDataset(None, torch.nn.Identity(), 64, data.spec), data, torch.device("cpu"),
                    tmp_path / "last.pt", 5, 1)
    monkeypatch.setattr(assess, "load_from_run", lambda *a, **k: loaded)
    monkeypatch.setattr(build, "build_method", lambda *a, **k: _FromDataset(None, torch.nn.Identity(), 64, data.spec))
    assert "factors" in assess.evaluate_run(tmp_path, "last", linear=True, floors=True, device="cpu")
    result = assess.evaluate_run(tmp_path, "last", linear=True, floors=True, device="cpu", factors=False)
    assert "factors" not in result and "factors" not in result["floor_raw_pixels"]
    assert "linear_top1" in result["model"] and "linear_top1" in result["floor_raw_pixels"]


def test_base_method_has_no_measures():
    data = make_dataset("toy", torch.zeros((2, 1, 2, 2), dtype=torch.uint8), torch.zeros(2),
                        torch.zeros((2, 1, 2, 2), dtype=torch.uint8), torch.zeros(2), ["a"])
    assert method_measures(Method(None, torch.nn.Identity(), 4, data.spec), data, torch.device("cpu")) == {}
    assert not hasattr(Method, "extra_metrics")  # one hook for a method's own figures, not two


def test_eval_event_with_measures_is_drawn_beside_the_method_terms():
    ev = make_event("eval", 10, 1, measures={"test NLL (nats/image)": 92.5, "floor NLL (nats/image)": 206.0})
    assert check_event(ev) == []
    curves = RunCurves()
    curves.add_other(ev)
    series = curves.terms["test NLL (nats/image)"]
    assert series.n == 1 and series.y[0] == 92.5  # in its own unit, not ×100 like scores
    assert curves.measure_keys == {"test NLL (nats/image)", "floor NLL (nats/image)"}
    assert not curves.scores
    level, text = summarize_event(ev)
    assert "test NLL (nats/image) 92.5" in text and "floor NLL (nats/image) 206" in text
    curves.reset()
    assert not curves.measure_keys and not curves.terms
