"""bench/scale.py with tiny numbers: it generates, caches, streams and compares without rotting."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # generates images and trains


def test_scale_bench_runs_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SSL_WORKBENCH_CACHE", str(tmp_path / "cache"))
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "bench" / "scale.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    try:
        spec.loader.exec_module(bench)
        folder = tmp_path / "imgs"
        args = ["--images", "300", "--side", "40", "--image-size", "32", "--steps", "5", "--compare-steps", "4", "--subset", "200",
                "--batch-size", "16", "--folder", str(folder), "--workers", "2", "--threads", "1"]
        assert bench.main(args) == 0
    finally:
        sys.modules.pop(spec.name, None)
    out = capsys.readouterr().out
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["images"] == 300 and figures["ratio"] > 0 and 0 < figures["peak_rss_mb"] < 2500
    assert 0 < figures["rest_rss_mb"] <= figures["peak_rss_mb"] and figures["steps"] == 5
    assert len(list(folder.glob("*/*.jpg"))) == 300 and "reused" not in out
    assert "peak RSS" in out and "ratio" in out
