"""workbench.analysis without Qt: source references, collapse metrics in numpy, health, comparison, analogy test."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from workbench import analysis
from workbench.analysis import SourceRef
from workbench.embeddings import Cancelled
from workbench.evaluate import collapse_metrics
from workbench.explore import EmbeddingSource
from workbench.runs import CHECKPOINTS, EMBEDDINGS


def source(emb: np.ndarray, labels=None, factors=None, run_dir: Path = Path(".")) -> EmbeddingSource:
    n = len(emb)
    labels = np.zeros(n, np.int64) if labels is None else labels
    images = np.zeros((n, 4, 4, 3), np.uint8)
    values = {k: [str(v) for v in range(int(c.max()) + 1)] for k, c in (factors or {}).items()}
    return EmbeddingSource(run_dir, "given", 0, emb.astype(np.float32), labels, np.arange(n), images,
                           factors=factors or {}, factor_values=values)


@pytest.mark.parametrize("scale", [1.0, 0.01])
def test_collapse_stats_match_the_trainers_torch_metrics(scale):
    rng = np.random.default_rng(0)
    x = (rng.normal(0, 1, (400, 32)) * np.r_[np.ones(4), scale * np.ones(28)] + 1).astype(np.float32)
    ours, theirs = analysis.collapse_stats(x), collapse_metrics(torch.from_numpy(x))
    for key in ("std", "std_ratio", "effective_rank"):
        assert ours[key] == pytest.approx(theirs[key], rel=1e-4)


def test_a_collapsed_embedding_reads_collapsed():
    emb = np.ones((300, 16), np.float32) + np.random.default_rng(0).normal(0, 1e-4, (300, 16))
    health = analysis.embedding_health(emb, np.arange(300) % 3)
    assert health.verdict.startswith("Collapsed") and health.std_ratio < 0.05


def test_sources_of_a_run_and_snapshot_lookup(tmp_path):
    (tmp_path / EMBEDDINGS).mkdir()
    (tmp_path / CHECKPOINTS).mkdir()
    for step in (0, 10):
        np.savez(tmp_path / EMBEDDINGS / f"{step:08d}.npz", embeddings=np.zeros((3, 2)), indices=np.arange(3))
    (tmp_path / CHECKPOINTS / "last.pt").write_bytes(b"")
    refs = analysis.list_sources(tmp_path)
    assert [r.title for r in refs] == ["snapshot step 0", "snapshot step 10", "checkpoint: last"]
    assert analysis.snapshot_ref(tmp_path) == refs[1] and analysis.snapshot_ref(tmp_path, 0) == refs[0]
    with pytest.raises(ValueError, match="no snapshot at step 5; it has steps 0, 10"):
        analysis.snapshot_ref(tmp_path, 5)


def test_health_report_of_a_given_source_has_the_panels_numbers():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(4), 50)
    emb = rng.normal(0, 5, (4, 12))[labels] + rng.normal(0, 1, (200, 12))
    src = source(emb, labels)
    report = analysis.health_report(src)
    _, xy = analysis.project(src.embeddings, "pca")
    quality = analysis.map_quality(src.embeddings, xy)
    assert report["trustworthiness"] == quality.trustworthiness and report["k"] == 10
    assert report["knn_correct"] == pytest.approx(1.0) and report["verdict"].startswith("Healthy")
    assert analysis.map_quality(emb[:2], xy[:2]) is None  # too few points to judge


def test_compare_two_given_sources_and_cancel():
    rng = np.random.default_rng(2)
    emb = rng.normal(0, 1, (100, 8))
    a, b = SourceRef.of_source(source(emb)), SourceRef.of_source(source(emb[:, ::-1].copy() * 2))
    same = analysis.compare(a, a, k=5, projection=None)
    assert same.mean_change == 0.0 and same.changed_share == 0.0 and same.xy_a.shape == (0, 2)
    other = analysis.compare(a, SourceRef.of_source(source(rng.normal(0, 1, (100, 8)))), k=5, same_layout=True)
    assert 0.5 < other.mean_change <= 1 and other.xy_b.shape == (100, 2)
    assert other.summary()["items"] == 100
    assert analysis.compare(a, b, k=5, projection=None).mean_change == pytest.approx(0.0)  # cosine ignores scale
    with pytest.raises(Cancelled):
        analysis.compare(a, b, k=5, cancel=lambda: True)


def test_analogy_test_on_one_hot_factors_scores_every_query():
    codes = np.array([(s, c) for s in range(3) for c in range(3) for _ in range(4)])
    factors = {"shape": codes[:, 0], "colour": codes[:, 1]}
    emb = np.hstack([np.eye(3)[codes[:, 0]], np.eye(3)[codes[:, 1]]])
    src = source(emb, factors=factors)
    assert analysis.can_test_analogies(src) and not analysis.can_test_analogies(source(emb))
    report = analysis.analogy_test(src)
    assert report["model"]["3cosadd"]["overall"]["top1"] == 1.0
