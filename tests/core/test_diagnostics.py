"""RankMe, alignment, uniformity, normalised std, label efficiency and per-factor probes against hand-computed cases."""
import math

import numpy as np
import pytest
import torch

from workbench.diagnostics import (OnlineProbe, alignment, embedding_diagnostics, factor_chance, factor_probes,
                                   label_efficiency, label_subset, normalised_std, rankme, uniformity)


def test_rankme_of_equal_singular_values_is_their_count():
    assert rankme(torch.eye(2)) == pytest.approx(2.0, abs=1e-5)
    assert rankme(torch.eye(5) * 3.0) == pytest.approx(5.0, abs=1e-4)


def test_rankme_of_unequal_singular_values_by_hand():
    # singular values 3 and 1 -> p = (0.75, 0.25) -> exp(-(0.75 ln 0.75 + 0.25 ln 0.25)) = 1.7548
    z = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    assert rankme(z) == pytest.approx(math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25))), abs=1e-4)


def test_rankme_of_a_collapsed_embedding_is_one():
    z = torch.tensor([[1.0, 2.0], [2.0, 4.0], [-1.0, -2.0]])  # rank one
    assert rankme(z) == pytest.approx(1.0, abs=1e-4)


def test_alignment_by_hand():
    assert alignment(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])) == pytest.approx(2.0)
    # pair 1 coincides after normalising (distance 0), pair 2 is antipodal (squared distance 4)
    z1 = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    z2 = torch.tensor([[1.0, 0.0], [0.0, -1.0]])
    assert alignment(z1, z2) == pytest.approx(2.0)
    assert alignment(z1, z2, alpha=1.0) == pytest.approx(1.0)


def test_uniformity_by_hand():
    # antipodal pair: squared distance 4 -> log exp(-2 * 4) = -8
    assert uniformity(torch.tensor([[1.0, 0.0], [-3.0, 0.0]])) == pytest.approx(-8.0)
    # orthogonal pair: squared distance 2 -> -4
    assert uniformity(torch.tensor([[1.0, 0.0], [0.0, 2.0]])) == pytest.approx(-4.0)
    # three pairs: distances² 2, 2, 4 -> log((2 e^-4 + e^-8) / 3)
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    assert uniformity(z) == pytest.approx(math.log((2 * math.exp(-4) + math.exp(-8)) / 3))
    # every point the same: potential 1 -> 0, the worst value
    assert uniformity(torch.ones(4, 3)) == pytest.approx(0.0, abs=1e-9)


def test_normalised_std_by_hand():
    # rows e1, e2: each dimension holds (1, 0): std (unbiased) 1/sqrt(2); ideal 1/sqrt(2): ratio 1
    out = normalised_std(torch.eye(2) * 5)
    assert out["std"] == pytest.approx(1 / math.sqrt(2))
    assert out["ideal_std"] == pytest.approx(1 / math.sqrt(2))
    assert out["std_ratio"] == pytest.approx(1.0)
    collapsed = normalised_std(torch.tensor([[1.0, 2.0, 3.0]] * 10))
    assert collapsed["std"] == pytest.approx(0.0, abs=1e-9) and collapsed["std_ratio"] == pytest.approx(0.0, abs=1e-9)


def test_embedding_diagnostics_keys_and_alignment_only_with_views():
    z = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    plain = embedding_diagnostics(z)
    assert set(plain) == {"rankme", "uniformity", "normalised_std", "std_ratio"}
    assert 1.0 < plain["rankme"] <= 8.0
    with_views = embedding_diagnostics(z, (z, z))
    assert with_views["alignment"] == pytest.approx(0.0, abs=1e-9)


def test_label_subset_is_stratified_with_at_least_one_per_class():
    labels = np.array([0] * 100 + [1] * 100 + [2] * 5 + [-1] * 7)
    ten = label_subset(labels, 0.1)
    assert list(np.bincount(labels[ten])) == [10, 10, 1]  # 0.5 of 5 rounds to 0 -> at least one
    one = label_subset(labels, 0.01)
    assert list(np.bincount(labels[one])) == [1, 1, 1]
    assert len(label_subset(labels, 1.0)) == 205  # every labelled item, none of the unlabelled
    assert np.array_equal(label_subset(labels, 0.1, seed=3), label_subset(labels, 0.1, seed=3))


def test_label_efficiency_grows_with_labels_and_is_keyed_by_fraction():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 20)) * 1.2
    y_train, y_test = rng.integers(0, 10, 2000), rng.integers(0, 10, 500)
    train = centres[y_train] + rng.normal(size=(2000, 20))
    test = centres[y_test] + rng.normal(size=(500, 20))
    out = label_efficiency(train, y_train, test, y_test)
    assert list(out) == ["0.01", "0.1", "1.0"]
    assert all(0.0 <= v <= 1.0 for v in out.values())
    assert out["0.01"] < out["1.0"] and out["1.0"] > 0.8


def test_factor_probes_read_what_the_embedding_holds():
    rng = np.random.default_rng(1)
    n = 600
    colour, shape = rng.integers(0, 3, n), rng.integers(0, 4, n)
    feats = np.eye(3)[colour] * 5 + rng.normal(scale=0.1, size=(n, 3))  # colour only, no shape
    factors = {"colour": colour, "shape": shape}
    probes = factor_probes(feats[:400], {k: v[:400] for k, v in factors.items()},
                           feats[400:], {k: v[400:] for k, v in factors.items()})
    assert probes["colour"] == pytest.approx(1.0)
    assert probes["shape"] < 0.45  # chance is about 0.25-0.3
    chance = factor_chance({"shape": np.array([0, 0, 0, 1])})
    assert chance == {"shape": 0.75}


def test_online_probe_learns_and_keeps_the_training_rng():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (300,), generator=g)
    x = torch.nn.functional.one_hot(y, 3).float() * 4 + torch.randn(300, 3, generator=g) * 0.3
    probe = OnlineProbe(steps=50, seed=0)
    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    first = probe.update(x[:200], y[:200], x[200:], y[200:])
    assert torch.equal(torch.random.get_rng_state(), before)
    assert first == pytest.approx(1.0)
    head = probe.head
    probe.update(x[:200], y[:200], x[200:], y[200:])
    assert probe.head is head  # warm-started: the same head goes on learning
    assert probe.update(x[:10], torch.full((10,), -1), x[200:], y[200:]) is None


def test_eval_log_line_names_rankme_alignment_and_uniformity():
    from workbench.curves import summarize_event
    _, line = summarize_event({"type": "eval", "t": 0, "step": 31, "epoch": 1, "knn_top1": 0.889, "knn_best": 0.889,
                               "collapse_std_ratio": 0.23, "effective_rank": 58.8,
                               "diagnostics": {"rankme": 19.372, "alignment": 0.0448, "uniformity": -0.2267},
                               "scores": {"online probe top-1": 0.959}})
    assert "RankMe 19.372" in line and "alignment 0.0448" in line and "uniformity -0.2267" in line
    assert "online probe top-1 95.9%" in line
