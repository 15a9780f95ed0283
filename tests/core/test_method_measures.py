"""A method's own measures: read over the splits by workbench.measures, carried by eval events, drawn as terms."""
from __future__ import annotations

import math

import torch

from workbench.api import Method
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


def test_base_method_has_no_measures():
    data = make_dataset("toy", torch.zeros((2, 1, 2, 2), dtype=torch.uint8), torch.zeros(2),
                        torch.zeros((2, 1, 2, 2), dtype=torch.uint8), torch.zeros(2), ["a"])
    assert method_measures(Method(None, torch.nn.Identity(), 4, data.spec), data, torch.device("cpu")) == {}


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
