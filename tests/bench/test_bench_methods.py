"""bench/methods.py: which methods it picks, where each trains, and that it rewrites only its own section."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from workbench.registry import get_method

pytestmark = pytest.mark.slow  # benchmark runs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_methods", ROOT / "bench" / "methods.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_colour_only_methods_train_on_shapes(bench):
    assert bench.dataset_for(get_method("colorization")) == "shapes"
    assert bench.dataset_for(get_method("autoencoder")) == "mnist5k"


def test_every_image_and_text_method_and_only_those(bench):
    methods, failed = bench.scored_methods(None)
    names = [n for n, _ in methods]
    assert {"autoencoder", "rotation", "colorization"} <= set(names)
    assert all(cls.accepts("image") or cls.modality in ("text", "sequence") for _, cls in methods)
    assert {"lstm_lm", "bert_lite", "word2vec"} <= set(names)
    assert bench.dataset_for(get_method("lstm_lm")) == "lee" == bench.dataset_for(get_method("bert_lite"))
    assert {"cpc_sequence", "wav2vec2"} <= set(names)  # sequence methods, scored on signals
    assert bench.dataset_for(get_method("wav2vec2")) == "signals"
    assert not [r for r in failed if r.error.startswith("not an")]  # silently out of scope


def test_section_is_replaced_and_the_rest_kept(bench, tmp_path):
    doc = tmp_path / "BENCHMARKS.md"
    bench.write_section(doc, f"{bench.BEGIN}\nold table\n{bench.END}\n")
    text = doc.read_text()
    assert text.startswith("# Benchmarks") and "old table" in text
    doc.write_text(text + "\n## Projections\n\nsomeone else's table\n")
    bench.write_section(doc, f"{bench.BEGIN}\nnew table\n{bench.END}\n")
    text = doc.read_text()
    assert "new table" in text and "old table" not in text
    assert text.count(bench.BEGIN) == 1 and "someone else's table" in text
    assert text.index("new table") < text.index("## Projections")


def test_a_failing_method_gets_a_row_with_the_reason(bench, tmp_path):
    doc = tmp_path / "B.md"
    doc.write_text("# Benchmarks\n\n## Projections\n\nkept\n")
    code = bench.main(["--methods", "no_such_method", "--out", str(doc), "--epochs", "1"])
    text = doc.read_text()
    assert code == 1
    assert "| `no_such_method` |" in text and "failed (load): not registered" in text
    assert "kept" in text and "## Methods" in text


def _args(methods):
    import argparse
    return argparse.Namespace(methods=methods, epochs=2, backbone="small_cnn", seed=0, checkpoint="last")


def test_a_measure_without_a_floor_of_its_own_is_read_against_random_init(bench):
    row = bench.Row("clip", dataset="shapes", batch_size=128, knn=0.5, linear=0.6, raw_knn=0.4, raw_linear=0.5,
                    random_knn=0.3, random_linear=0.4, beats_floor=True, seconds=10.0, img_s=100.0, load="3.1",
                    measures={"zero_shot_mean": 0.6, "zero_shot_colour": 0.9},
                    random_measures={"zero_shot_mean": 0.25, "zero_shot_colour": 0.17})
    text = bench.render([row], _args("clip"), "test machine", 60.0)
    assert "| `clip` | shapes | 128 | 50.0 % |" in text  # its kNN row
    assert "| `clip` | shapes | zero_shot_mean | 0.6 | – | 0.25 | yes | zero_shot_colour 0.9 | 10 | 3.1 |" in text


def test_a_measure_with_its_own_floor_must_beat_it_and_random_init(bench):
    measures = {"test NLL (nats/image)": 120.5, "independent pixels NLL (nats/image)": 265.7}
    label, value, own, random, beats = bench.measure_floors(
        measures, {"test NLL (nats/image)": 540.0, "independent pixels NLL (nats/image)": 265.7})
    assert (label, value, own, random, beats) == ("test NLL (nats/image)", 120.5,
                                                 ("independent pixels NLL (nats/image)", 265.7), 540.0, True)
    # masked-word accuracy level with its most-frequent-word floor does not beat it
    accuracy = {"masked-word accuracy": 0.0868, "most-frequent-word accuracy": 0.0868}
    assert bench.measure_floors(accuracy, {"masked-word accuracy": 0.001, "most-frequent-word accuracy": 0.0868})[4] is False
    assert bench.lower_is_better("test perplexity") and not bench.lower_is_better("masked-word accuracy")


def test_text_methods_get_their_rho_and_measures_rows(bench):
    lstm = bench.Row("lstm_lm", dataset="lee", batch_size=256, rho=0.2047, simlex=-0.016, random_rho=0.05,
                     beats_floor=True, seconds=833.0, img_s=120.0, load="14.2",
                     measures={"test perplexity": 281.7, "unigram perplexity": 461.1},
                     random_measures={"test perplexity": 1750.0, "unigram perplexity": 461.1})
    w2v = bench.Row("word2vec", dataset="lee", batch_size=4096, rho=0.31, simlex=0.1, random_rho=0.02,
                    beats_floor=True, seconds=20.0, img_s=5000.0, load="2.0")
    text = bench.render([lstm, w2v], _args("lstm_lm,word2vec"), "cpu", 60.0)
    assert "| `lstm_lm` | lee | 256 | 0.2047 | 0.05 | -0.016 | yes | 833 | 120 | 14.2 |" in text
    assert "| `word2vec` | lee | 4096 | 0.31 | 0.02 | 0.1 | yes | 20 | 5000 | 2.0 |" in text
    assert "| `lstm_lm` | lee | test perplexity | 281.7 | 461.1 (unigram perplexity) | 1750 | yes | – | 833 | 14.2 |" in text
    assert not bench.below_a_floor(lstm) and not bench.below_a_floor(w2v)
    lstm.measures["test perplexity"] = 500.0
    assert bench.below_a_floor(lstm)  # above its unigram floor
