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


def test_threads_also_bound_the_scoring_in_this_process(bench, tmp_path):
    import torch
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        bench.main(["--methods", "no_such_method", "--out", str(tmp_path / "B.md"), "--threads", "1"])
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def _args(methods):
    import argparse
    return argparse.Namespace(methods=methods, epochs=2, backbone="small_cnn", seed=0, checkpoint="last", threads=1)


def _image(bench, **kw):
    base = dict(dataset="mnist5k", batch_size=128, knn=0.85, linear=0.9, raw_knn=0.9, raw_linear=0.8,
                random_knn=0.77, random_linear=0.9, seconds=10.0, img_s=100.0, load="3.1")
    return bench.Row(kw.pop("method", "autoencoder"), **{**base, **kw})


def _text(bench, **kw):
    base = dict(dataset="lee", batch_size=256, rho=0.2, simlex=0.0, random_rho=0.05, rho_pairs=60,
                seconds=100.0, img_s=1000.0, load="2.0")
    return bench.Row(kw.pop("method", "word2vec"), **{**base, **kw})


NLL = "test NLL (nats/image)", "independent pixels NLL (nats/image)"


def test_rho_noise_band_is_the_one_the_dashboard_shows(bench):
    from workbench.floors import rho_noise
    assert all(bench.rho_noise(n) == rho_noise(n) for n in (4, 60, 1003))  # ±0.26 over 60 pairs
    assert bench.rho_noise(3) == float("inf")  # no interval: nothing is outside it


def test_knn_decides_an_image_method_without_measures(bench):
    assert bench.verdict(_image(bench)) == bench.Verdict(True, "kNN 85.0 % > 77.0 % (random init)")
    v = bench.verdict(_image(bench, knn=0.77))  # level with random init is not above it
    assert v.beats is False and v.decided_by == "kNN 77.0 % ≤ 77.0 % (random init)"


def test_nll_decides_against_independent_pixels_not_knn(bench):
    # a worse kNN than random init does not fail a density model that beats independent pixels
    row = _image(bench, method="nade", knn=0.70, measures={NLL[0]: 120.5, NLL[1]: 265.7},
                 random_measures={NLL[0]: 540.0, NLL[1]: 265.7})
    assert bench.verdict(row) == bench.Verdict(
        True, "test NLL (nats/image) 120.5 < 265.7 (independent pixels NLL (nats/image))")
    # better than random init (540) but above independent pixels: no
    row.measures[NLL[0]] = 300.0
    v = bench.verdict(row)
    assert v.beats is False and v.decided_by.startswith("test NLL (nats/image) 300 ≥ 265.7")


def test_zero_shot_accuracy_decides_against_random_init(bench):
    row = _image(bench, method="clip", dataset="shapes", knn=0.5, random_knn=0.6,
                 measures={"zero_shot_mean": 0.6, "zero_shot_colour": 0.9},
                 random_measures={"zero_shot_mean": 0.25, "zero_shot_colour": 0.17})
    assert bench.verdict(row) == bench.Verdict(True, "zero_shot_mean 0.6 > 0.25 (random init)")
    row.measures["zero_shot_mean"] = 0.25
    assert bench.verdict(row).beats is False
    # a factor at chance in both models (the same value) is not a floor of the mean
    row = _image(bench, method="clip", dataset="shapes",
                 measures={"zero_shot_mean": 0.6, "zero_shot_size": 0.5, "zero_shot_colour": 0.9},
                 random_measures={"zero_shot_mean": 0.3, "zero_shot_size": 0.5, "zero_shot_colour": 0.17})
    assert bench.verdict(row) == bench.Verdict(True, "zero_shot_mean 0.6 > 0.3 (random init)")


def test_text_model_is_judged_by_its_measure_not_by_noisy_rho(bench):
    # ρ well below random init (−0.3 vs 0.2) yet the perplexity beats the unigram model: yes
    lstm = _text(bench, method="lstm_lm", rho=-0.1, random_rho=0.2,
                 measures={"test perplexity": 281.7, "unigram perplexity": 461.1},
                 random_measures={"test perplexity": 1750.0, "unigram perplexity": 461.1})
    assert bench.verdict(lstm) == bench.Verdict(True, "test perplexity 281.7 < 461.1 (unigram perplexity)")
    lstm.measures["test perplexity"] = 461.1  # level with the unigram model: no
    assert bench.verdict(lstm).beats is False and bench.below_a_floor(lstm)
    bert = _text(bench, method="bert_lite", rho=0.5, random_rho=0.0,
                 measures={"masked-word perplexity": 470.0, "unigram perplexity": 461.1},
                 random_measures={"masked-word perplexity": 9000.0, "unigram perplexity": 461.1})
    assert bench.verdict(bert).beats is False  # a high ρ does not rescue it


def test_every_own_floor_must_be_beaten(bench):
    # perplexity a hair under the unigram model's, accuracy level with the most frequent word: no
    bert = _text(bench, method="bert_lite",
                 measures={"masked-word perplexity": 459.6, "unigram perplexity": 461.1,
                           "masked-word accuracy": 0.0868, "most-frequent-word accuracy": 0.0868},
                 random_measures={"masked-word perplexity": 1800.0, "unigram perplexity": 461.1,
                                  "masked-word accuracy": 0.0004, "most-frequent-word accuracy": 0.0868})
    assert bench.own_floors(bert.measures, bert.random_measures) == [
        ("masked-word perplexity", 459.6, "unigram perplexity", 461.1),
        ("masked-word accuracy", 0.0868, "most-frequent-word accuracy", 0.0868)]
    assert bench.verdict(bert) == bench.Verdict(
        False, "masked-word perplexity 459.6 < 461.1 (unigram perplexity); "
               "masked-word accuracy 0.0868 ≤ 0.0868 (most-frequent-word accuracy)")
    bert.measures["masked-word accuracy"] = 0.1383
    assert bench.verdict(bert).beats is True


def test_rho_alone_decides_only_outside_its_noise_band(bench):
    within = _text(bench, rho=0.30, random_rho=0.05)  # gap 0.25 < 0.261 over 60 pairs
    v = bench.verdict(within)
    assert v.beats is None and "noise ±0.26 over 60 pairs" in v.decided_by
    assert bench.below_a_floor(within)  # within noise is not a pass
    assert bench.verdict(_text(bench, rho=0.40, random_rho=0.05)).beats is True
    assert bench.verdict(_text(bench, rho=-0.30, random_rho=0.05)).beats is False
    assert bench.verdict(_text(bench, rho=0.30, random_rho=0.05, rho_pairs=1000)).beats is True
    assert bench.verdict(_text(bench, rho=None)) == bench.Verdict(None, "no floor measured")


def test_measure_floors_prefers_the_own_floor(bench):
    label, value, own, random, beats = bench.measure_floors(
        {NLL[0]: 120.5, NLL[1]: 265.7}, {NLL[0]: 540.0, NLL[1]: 265.7})
    assert (label, value, own, random, beats) == (NLL[0], 120.5, (NLL[1], 265.7), 540.0, True)
    # masked-word accuracy level with its most-frequent-word floor does not beat it
    accuracy = {"masked-word accuracy": 0.0868, "most-frequent-word accuracy": 0.0868}
    assert bench.measure_floors(accuracy, {"masked-word accuracy": 0.001, "most-frequent-word accuracy": 0.0868})[4] is False
    assert bench.lower_is_better("test perplexity") and not bench.lower_is_better("masked-word accuracy")


def test_rows_show_the_verdict_and_the_figure_that_decided_it(bench):
    clip = _image(bench, method="clip", dataset="shapes", knn=0.5, random_knn=0.6,
                  measures={"zero_shot_mean": 0.6, "zero_shot_colour": 0.9},
                  random_measures={"zero_shot_mean": 0.25, "zero_shot_colour": 0.17})
    lstm = _text(bench, method="lstm_lm", rho=0.2047, simlex=-0.016, random_rho=0.05, seconds=833.0,
                 img_s=120.0, load="14.2", measures={"test perplexity": 281.7, "unigram perplexity": 461.1},
                 random_measures={"test perplexity": 1750.0, "unigram perplexity": 461.1})
    w2v = _text(bench, rho=0.0514, random_rho=0.0736, batch_size=4096)
    text = bench.render([clip, lstm, w2v], _args("clip,lstm_lm,word2vec"), "cpu", 60.0)
    assert "`python bench/methods.py --methods clip,lstm_lm,word2vec --epochs 2 --threads 1`" in text
    assert ("| `clip` | shapes | 128 | 50.0 % | 90.0 % | 90.0 % / 80.0 % | 60.0 % / 90.0 % | yes "
            "| zero_shot_mean 0.6 > 0.25 (random init) | 10 | 100 | 3.1 |") in text
    assert ("| `lstm_lm` | lee | 256 | 0.2047 ± 0.26 (60 pairs) | 0.05 | -0.016 | yes "
            "| test perplexity 281.7 < 461.1 (unigram perplexity) | 833 | 120 | 14.2 |") in text
    assert ("| `word2vec` | lee | 4096 | 0.0514 ± 0.26 (60 pairs) | 0.0736 | 0 | **within noise** "
            "| WordSim ρ 0.051 vs 0.074 (random init), noise ±0.26 over 60 pairs | 100 | 1000 | 2.0 |") in text
    assert "| `lstm_lm` | lee | test perplexity | 281.7 | 461.1 (unigram perplexity) | 1750 | – |" in text
    assert "| `clip` | shapes | zero_shot_mean | 0.6 | – | 0.25 | zero_shot_colour 0.9 |" in text


def _save(bench, path, rows, run=None, mtime=None):
    import json
    import os
    from dataclasses import asdict
    data = {"machine": "AMD EPYC, 2 logical cores, torch 2 on cpu with 1 thread, Python 3.11", "seconds": 600.0,
            "rows": [asdict(r) for r in rows]}
    if run:
        data["run"] = run
    path.write_text(json.dumps(data))
    if mtime:
        os.utime(path, (mtime, mtime))
    return path


def test_one_section_from_several_saved_runs(bench, tmp_path):
    # 2026-12-03 10:00–10:40 UTC (recorded) and a file of an older format that ended at 11:30 UTC
    a = _save(bench, tmp_path / "a.json",
              [_image(bench, method="vicreg", extra={"epoch": 2}), _text(bench, rho=0.0, random_rho=0.07)],
              run=bench.run_info(_args("vicreg,word2vec"), "AMD EPYC, 2 cores", 1796292000.0, 1796294400.0,
                                 "1.5 / 6.2"))
    bert = _text(bench, method="bert_lite", batch_size=128, load="7.0", extra={"epoch": 2},
                 measures={"masked-word perplexity": 257.3, "unigram perplexity": 461.1},
                 random_measures={"masked-word perplexity": 1798.0, "unigram perplexity": 461.1})
    w2v = _text(bench, rho=0.0, random_rho=0.07, load="5.0", extra={"epoch": 2},  # ρ within noise, but measured
                measures={"context-word perplexity": 423.9, "unigram perplexity": 462.5},
                random_measures={"context-word perplexity": 900.0, "unigram perplexity": 462.5})
    b = _save(bench, tmp_path / "b.json", [w2v, bert], mtime=1796297400.0)
    out = tmp_path / "B.md"
    rows = bench.render_from([b, a], out, ["autoencoder", "bert_lite", "vicreg", "word2vec"])
    assert [r.method for r in rows] == ["bert_lite", "vicreg", "word2vec"]  # registry order
    assert rows[2].measures["context-word perplexity"] == 423.9  # the later run's row wins
    text = out.read_text()
    assert "The rows come from 2 runs of `bench/methods.py`" in text
    assert ("1. `python bench/methods.py --methods vicreg,word2vec --epochs 2 --threads 1`: "
            "2026-12-03 10:00 UTC – 10:40 UTC (40.0 min), 2 epochs, 1 thread, 1-minute load average at start "
            "and end 1.5 / 6.2; AMD EPYC, 2 cores") in text
    assert ("2. `python bench/methods.py --methods word2vec,bert_lite --epochs 2 --threads 1`: 2026-12-03 "
            "11:20 UTC – 11:30 UTC (end from the file's time) (10.0 min), 2 epochs, 1 thread, 1-minute load "
            "average at start and end not recorded; 5.0–7.0 when its methods ended") in text
    assert "| `word2vec` | lee | 256 | 0 ± 0.26 (60 pairs) | 0.07 | 0 | yes | context-word perplexity 423.9 < 462.5" in text
    assert text.index("| `bert_lite` | lee") < text.index("| `word2vec` | lee")
    assert "| `vicreg` | mnist5k | 128 | 85.0 % |" in text


def test_render_from_writes_the_section_and_exits_on_a_row_below_its_floor(bench, tmp_path):
    out = tmp_path / "B.md"
    out.write_text(f"# Benchmarks\n\nkept\n\n{bench.BEGIN}\nold\n{bench.END}\n\n## After\n")
    below = _save(bench, tmp_path / "a.json", [_text(bench, rho=0.0, random_rho=0.07)])  # within noise
    assert bench.main(["--render-from", str(below), "--out", str(out)]) == 1
    text = out.read_text()
    assert "kept" in text and "## After" in text and "old" not in text and "**within noise**" in text
    with pytest.raises(SystemExit):
        bench.main(["--render-from", str(tmp_path / "missing.json"), "--out", str(out)])
