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


def test_every_image_method_and_only_those(bench):
    methods, failed = bench.image_methods(None)
    names = [n for n, _ in methods]
    assert {"autoencoder", "rotation", "colorization"} <= set(names)
    assert all(cls.accepts("image") or cls.modality == "sequence" or bench.has_measures(cls) for _, cls in methods)
    assert {"cpc_sequence", "wav2vec2"} <= set(names)  # sequence methods, scored on signals
    assert bench.dataset_for(get_method("wav2vec2")) == "signals"
    assert "lstm_lm" in names and "word2vec" not in names  # text with a measure of its own only
    assert bench.dataset_for(get_method("lstm_lm")) == "lee"
    assert not [r for r in failed if r.error == "not an image method"]  # silently out of scope


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


def test_a_methods_own_measures_are_listed_beside_their_floor(bench):
    import argparse
    row = bench.Row("clip", dataset="shapes", batch_size=128, knn=0.5, linear=0.6, raw_knn=0.4, raw_linear=0.5,
                    random_knn=0.3, random_linear=0.4, beats_floor=True, seconds=10.0, img_s=100.0,
                    extra={"own": {"zero_shot_colour": (0.9, 0.2)}})
    args = argparse.Namespace(methods="clip", epochs=2, backbone="small_cnn", seed=0, checkpoint="last")
    text = bench.render([row], args, "test machine", 60.0)
    assert "`clip` zero_shot_colour 90.0 % (random init 20.0 %)" in text


def test_methods_with_measures_get_their_own_table(bench):
    import argparse
    args = argparse.Namespace(methods="nade", epochs=2, backbone="small_cnn", seed=0, checkpoint="last")
    row = bench.Row("nade", dataset="mnist5k", batch_size=32, knn=0.9, seconds=60.0, beats_floor=True,
                    extra={"measures": {"test NLL (nats/image)": 120.5, "independent pixels NLL (nats/image)": 265.7}})
    text = bench.render([row], args, "cpu", 60.0)
    assert "| `nade` | mnist5k | 32 | test NLL (nats/image) | 120.5 | 265.7 (independent pixels NLL (nats/image)) | yes |" in text
    assert bench.lower_is_better("test perplexity") and not bench.lower_is_better("masked-token accuracy")
