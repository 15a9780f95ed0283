"""Analogy tests with known answers: deterministic query sets, exact scores on built embeddings, and the
eval / export / trainer integration on a tiny shapes run."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import workbench.data
import workbench.data.shapes as shapes_module
from workbench.analogies import (DEFAULT_PER_FACTOR, NUISANCE, analogy_report, analogy_sets, chance,
                                 event_scores, expected_factors, expected_rank, flat_attrs, format_report,
                                 random_quadruple, raw_inputs, raw_pixels, score_sets, semantic_factors)
from workbench.data.base import make_dataset
from workbench.data.shapes import FACTORS, generate_shapes

SEMANTIC = ("shape", "colour", "size")


@pytest.fixture(scope="module")
def codes():
    """Factor codes of 2,000 shapes (every shape × colour × size 27 or 28 times), no pixels needed."""
    rng = np.random.default_rng(1)
    combo = rng.permutation(np.arange(2000) % 72)
    out = {"shape": combo // 18, "colour": (combo // 3) % 6, "size": combo % 3}
    out.update({k: rng.integers(0, len(FACTORS[k]), 2000) for k in ("x", "y", "rotation")})
    return {k: out[k].astype(np.int64) for k in FACTORS}


def additive(codes) -> np.ndarray:
    """emb = onehot(shape) + onehot(colour) + onehot(size): every analogy has an exact answer."""
    return np.hstack([np.eye(len(FACTORS[k]), dtype=np.float32)[codes[k]] for k in SEMANTIC])


def test_semantic_factors_leave_out_position_and_rotation(codes):
    assert semantic_factors(codes) == list(SEMANTIC)
    assert NUISANCE == {"x", "y", "rotation"}
    # nuisances are always open; semantic factors follow the a, b, c rule
    a, b, c = 0, 1, 2
    for k in SEMANTIC:
        codes_k = codes[k]
        want = codes_k[c] if codes_k[a] == codes_k[b] else codes_k[a] if codes_k[b] == codes_k[c] else None
        assert expected_factors(codes, a, b, c)[k] == want
    assert all(expected_factors(codes, a, b, c)[k] is None for k in NUISANCE)


def test_sets_are_deterministic_by_seed(codes):
    first, again, other = analogy_sets(codes, seed=0), analogy_sets(codes, seed=0), analogy_sets(codes, seed=1)
    assert [s.factor for s in first] == list(SEMANTIC)
    assert [len(s) for s in first] == [DEFAULT_PER_FACTOR] * 3
    for s, t, u in zip(first, again, other):
        assert s.title == f"{s.factor} swap"
        np.testing.assert_array_equal(s.abc, t.abc)
        np.testing.assert_array_equal(s.expected, t.expected)
        assert not np.array_equal(s.abc, u.abc)
        assert len({tuple(q) for q in s.abc}) == len(s), "queries are distinct"
    # one factor's queries do not depend on which other factors are asked for
    colour_only = analogy_sets(codes, seed=0, swaps=["colour"])
    np.testing.assert_array_equal(colour_only[0].abc, first[1].abc)


def test_every_query_swaps_one_factor_and_has_a_reachable_answer(codes):
    sem = np.stack([codes[k] for k in SEMANTIC], axis=1)
    for s in analogy_sets(codes, n=200, seed=3):
        f = SEMANTIC.index(s.factor)
        assert s.semantic == SEMANTIC
        partners = set()
        for (a, b, c), want in zip(s.abc, s.expected):
            ab, bc = sem[a] != sem[b], sem[b] != sem[c]
            # a and b differ in the swapped factor only; c keeps b's value and changes one other
            assert list(np.flatnonzero(ab)) == [f]
            assert bc.sum() == 1 and not bc[f]
            partners.add(int(np.flatnonzero(bc)[0]))
            # the expected answer is what expected_factors says for the semantic factors ...
            rule = expected_factors(codes, a, b, c)
            assert [rule[k] for k in SEMANTIC] == list(want)
            # ... and some item other than a, b, c has it
            hits = np.flatnonzero((sem == want).all(axis=1))
            assert len(set(hits) - {a, b, c}) >= 1
        assert partners == set(range(3)) - {f}, "both partner factors are used"


def test_additive_one_hot_embedding_answers_every_query(codes):
    sets = analogy_sets(codes)
    scores = score_sets(additive(codes), codes, sets)
    for method in ("3cosadd", "3cosmul"):
        for part in (*SEMANTIC, "overall"):
            assert scores[method][part] == {"top1": 1.0, "top5": 1.0}, (method, part)
    assert event_scores(additive(codes), codes, sets) == {
        "analogy top-1": 1.0, "analogy top-1 · shape": 1.0, "analogy top-1 · colour": 1.0,
        "analogy top-1 · size": 1.0}


def test_an_embedding_missing_a_factor_fails_exactly_that_factor(codes):
    # without colour in the embedding, any colour is as good as the right one (~1/6 top-1), and every
    # answer needs the right colour: the colour swap, and the others where colour is carried along
    emb = np.hstack([np.eye(len(FACTORS[k]), dtype=np.float32)[codes[k]] for k in ("shape", "size")])
    scores = score_sets(emb, codes, analogy_sets(codes))["3cosadd"]
    for part in (*SEMANTIC, "overall"):
        assert scores[part]["top1"] < 0.4, part
    assert scores["overall"]["top5"] < 0.9


def test_random_embedding_is_near_chance(codes):
    sets = analogy_sets(codes)
    ch = chance(codes, sets)
    assert ch["top1"] == pytest.approx(1 / 72, abs=0.002)  # ~27 of 1,997 candidates are right
    assert ch["top5"] == pytest.approx(1 - (1 - 1 / 72) ** 5, abs=0.005)
    emb = np.random.default_rng(0).normal(size=(len(codes["shape"]), 64)).astype(np.float32)
    scores = score_sets(emb, codes, sets)
    for method in ("3cosadd", "3cosmul"):
        assert abs(scores[method]["overall"]["top1"] - ch["top1"]) < 0.02
        assert abs(scores[method]["overall"]["top5"] - ch["top5"]) < 0.04


def test_report_table_and_flat_attributes(codes):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (len(codes["shape"]), 3, 4, 4), dtype=np.uint8)
    raw = raw_pixels(images)
    assert raw.shape == (2000, 48) and raw.dtype == np.float32 and raw.max() <= 1.0
    seen = []
    report = analogy_report({"model": additive(codes), "floor_raw_pixels": raw}, codes, n=50,
                            progress=seen.append)
    assert seen == [0.5, 1.0]
    assert report["queries"] == {"shape": 50, "colour": 50, "size": 50}
    assert report["model"]["3cosmul"]["overall"]["top1"] == 1.0
    assert report["floor_raw_pixels"]["3cosadd"]["overall"]["top1"] < 0.2
    json.dumps(report)  # plain data, ready for `eval`'s JSON
    table = format_report(report)
    assert "50 queries per factor" in table and "raw pixels" in table and "random init" not in table
    assert "3CosAdd" in table and "3CosMul" in table and "100.0 / 100.0" in table
    assert [line.split()[0] for line in table.splitlines()[2:6]] == ["shape", "colour", "size", "overall"]
    attrs = flat_attrs(report)
    assert attrs["analogy_queries"] == 150
    assert attrs["analogy_3cosadd_top1"] == 1.0 and attrs["analogy_3cosmul_top5_colour"] == 1.0
    assert len(attrs) == 1 + 2 * 2 * 4


def test_no_sets_without_two_semantic_factors(codes):
    only = {"shape": codes["shape"], "x": codes["x"]}
    assert analogy_sets(only) == [] and analogy_report({"model": additive(codes)}, only) == {}
    assert random_quadruple(only, np.random.default_rng(0)) is None
    assert flat_attrs({}) == {} and format_report({}) == ""


def test_mismatched_embeddings_are_a_clear_error(codes):
    with pytest.raises(ValueError, match="same items"):
        score_sets(np.zeros((10, 4)), codes, analogy_sets(codes, n=5))


def test_expected_rank_finds_the_best_right_answer(codes):
    a, b, c = random_quadruple(codes, np.random.default_rng(0), swap="colour")
    rank, item, count = expected_rank(additive(codes), codes, a, b, c)
    assert rank == 1 and item not in (a, b, c) and 20 <= count <= 28
    # an embedding that ignores colour still ranks some right answer, just lower on average
    emb = np.hstack([np.eye(len(FACTORS[k]), dtype=np.float32)[codes[k]] for k in ("shape", "size")])
    assert expected_rank(emb, codes, a, b, c)[0] >= 1
    # a query with nothing clear to judge has no rank
    diff = [int(np.flatnonzero((codes["shape"] == s) & (codes["colour"] == s) & (codes["size"] == s % 3))[0])
            for s in range(3)]
    assert expected_rank(additive(codes), codes, *diff) is None


def test_random_quadruple_swaps_the_asked_factor(codes):
    rng = np.random.default_rng(5)
    for swap, partner in itertools.product(SEMANTIC, SEMANTIC):
        if swap == partner:
            continue
        a, b, c = random_quadruple(codes, rng, swap=swap, partner=partner)
        assert codes[swap][a] != codes[swap][b] == codes[swap][c]
        assert codes[partner][a] == codes[partner][b] != codes[partner][c]


# --- integration: a tiny shapes run through the trainer, eval and export ------------------------------
def tiny_shapes(factors: bool = True):
    """The real shapes generator, 288 images per split (4 of each shape × colour × size)."""
    x_train, f_train = generate_shapes(288, 0)
    x_test, f_test = generate_shapes(288, 1)
    names = {k: list(v) for k, v in FACTORS.items()} if factors else None
    return make_dataset("shapes", x_train, f_train["shape"], x_test, f_test["shape"], list(FACTORS["shape"]),
                        factors=names, factors_train=f_train if factors else None,
                        factors_test=f_test if factors else None)


def train_tiny(run_dir) -> None:
    from workbench.cli import main
    assert main(["train", "--method", "rotation", "--dataset", "shapes", "--epochs", "1", "--batch-size", "64",
                 "--device", "cpu", "--set", "probe_size=100", "--set", "linear_probe=false", "--quiet",
                 "--run-dir", str(run_dir)]) == 0


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    """One epoch of rotation prediction on tiny shapes."""
    mp = pytest.MonkeyPatch()
    mp.setattr(shapes_module, "load_shapes", tiny_shapes)
    mp.setattr(workbench.data, "_CACHE", {})
    run_dir = tmp_path_factory.mktemp("analogies") / "run"
    try:
        train_tiny(run_dir)
        yield run_dir
    finally:
        mp.undo()


@pytest.fixture
def tiny_data(monkeypatch):
    monkeypatch.setattr(shapes_module, "load_shapes", tiny_shapes)
    monkeypatch.setattr(workbench.data, "_CACHE", {})


@pytest.mark.slow  # trains a run (shapes_run, ~10 s)
def test_eval_events_carry_analogy_scores(shapes_run):
    from workbench.events import read_events
    evals = [ev for ev in read_events(shapes_run) if ev["type"] == "eval" and "knn_top1" in ev]
    scores = evals[-1]["scores"]
    analogies = [k for k in scores if k.startswith("analogy")]  # first, so the Runs tab's score is analogy top-1
    assert list(scores)[:4] == analogies == ["analogy top-1", "analogy top-1 · shape", "analogy top-1 · colour",
                                             "analogy top-1 · size"]
    assert all(0.0 <= v <= 1.0 for v in scores.values())


@pytest.mark.slow  # trains a run (shapes_run, ~10 s)
def test_eval_reports_analogies_next_to_both_floors(shapes_run, tiny_data, capsys):
    from workbench.cli import main
    assert main(["eval", str(shapes_run), "--no-linear"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    section = result["analogies"]
    assert section["queries"] == {"shape": 300, "colour": 300, "size": 300}
    for key in ("model", "floor_raw_pixels", "floor_random_init"):
        for method in ("3cosadd", "3cosmul"):
            assert set(section[key][method]) == {"shape", "colour", "size", "overall"}
            assert 0.0 <= section[key][method]["overall"]["top1"] <= section[key][method]["overall"]["top5"] <= 1
    assert "analogies a − b + c" in captured.err and "random init" in captured.err
    # without floors only the model is scored
    assert main(["eval", str(shapes_run), "--no-linear", "--no-floors"]) == 0
    assert set(json.loads(capsys.readouterr().out)["analogies"]) == {"queries", "chance", "model"}


@pytest.mark.slow  # trains a run (shapes_run, ~10 s)
def test_export_writes_analogy_attributes(shapes_run, tiny_data, tmp_path):
    from workbench.export import read_export
    from workbench.run_export import export_run
    stages = []
    out = export_run(shapes_run, tmp_path / "e.h5", projections=(),
                     progress=lambda fraction, stage: stages.append(stage))
    attrs = read_export(out).attrs
    assert "analogies" in stages
    assert attrs["analogy_queries"] == 900
    for name in ("analogy_3cosadd_top1", "analogy_3cosmul_top5", "analogy_3cosadd_top1_colour"):
        assert 0.0 <= attrs[name] <= 1.0, name


@pytest.mark.slow  # trains a run (shapes_run, ~10 s)
def test_raw_inputs_are_the_data_as_the_model_sees_it(shapes_run, tiny_data):
    from workbench.data.base import model_input
    rows = np.array([5, 0, 17])
    raw = raw_inputs(shapes_run, rows)
    expected = model_input(tiny_shapes().x_test[rows]).flatten(1).numpy()
    np.testing.assert_array_equal(raw, expected)
    assert raw.shape == (3, 3 * 32 * 32) and raw.max() <= 1.0
    with pytest.raises(ValueError, match="does not exist"):
        raw_inputs(shapes_run / "nowhere", rows)


@pytest.mark.slow  # trains and evaluates a run through the CLI (~6 s)
def test_data_without_factors_gets_no_analogies(tmp_path, monkeypatch, capsys):
    from workbench.cli import main
    from workbench.events import read_events
    monkeypatch.setattr(shapes_module, "load_shapes", lambda: tiny_shapes(factors=False))
    monkeypatch.setattr(workbench.data, "_CACHE", {})
    train_tiny(tmp_path / "run")
    assert not any(k.startswith("analogy") for ev in read_events(tmp_path / "run") if ev["type"] == "eval"
                   for k in ev.get("scores", {}))
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run"), "--no-linear", "--no-floors"]) == 0
    assert "analogies" not in json.loads(capsys.readouterr().out)
