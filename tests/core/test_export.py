"""HDF5 export: round trip, the on-disk schema, clear errors for wrong files, atomic and chunked writes."""
import json
import os
from datetime import datetime
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from workbench.embeddings import Cancelled
from workbench.export import FORMAT_VERSION, ExportError, ExportWriter, read_export, sha256_file, write_export

N, D = 50, 8


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return dict(
        embeddings=rng.standard_normal((N, D)).astype(np.float32),
        labels=np.r_[rng.integers(0, 3, N - 5), [-1] * 5],
        indices=rng.permutation(1000)[:N],
        projections={"pca": rng.standard_normal((N, 2)), "tsne": rng.standard_normal((N, 2))},
        factors={"shape": rng.integers(0, 3, N), "colour": rng.integers(0, 2, N)},
        factor_values={"shape": ["circle", "square", "triangle"], "colour": ["red", "blue"]},
        attrs={
            "method": "simclr", "dataset": "shapes", "split": "test",
            "config": {"lr": 0.001, "backbone": {"name": "small_cnn", "width": 32}},
            "checkpoint": "runs/x/checkpoints/last.pt", "checkpoint_sha256": "ab" * 32,
            "step": 1200, "epoch": 3, "seed": 7,
        },
    )


def files_in(directory):
    return sorted(p.name for p in directory.iterdir())


def test_round_trip_keeps_every_field_and_attribute(tmp_path, data):
    seen = []
    out = write_export(tmp_path / "e.h5", **data, progress=seen.append)
    assert out == tmp_path / "e.h5"
    assert seen and seen[-1] == 1.0

    exp = read_export(out)
    np.testing.assert_array_equal(exp.embeddings, data["embeddings"])
    np.testing.assert_array_equal(exp.labels, data["labels"])
    np.testing.assert_array_equal(exp.indices, data["indices"])
    assert set(exp.projections) == {"pca", "tsne"}
    for name, proj in data["projections"].items():
        np.testing.assert_allclose(exp.projections[name], proj.astype(np.float32))
    for name, codes in data["factors"].items():
        np.testing.assert_array_equal(exp.factors[name], codes)
    assert exp.factor_values == data["factor_values"]
    for key, value in data["attrs"].items():
        assert exp.attrs[key] == value, key
    assert exp.attrs["format_version"] == FORMAT_VERSION
    from importlib.metadata import version
    assert exp.attrs["workbench_version"] == version("ssl-workbench")  # the package's, read without its metadata
    assert datetime.fromisoformat(exp.attrs["created"]).tzinfo is not None
    assert exp.embedding_shape == (N, D)

    lazy = read_export(out, load=False)
    assert lazy.embeddings is None and lazy.embedding_shape == (N, D)
    np.testing.assert_array_equal(lazy.labels, data["labels"])


def test_file_read_with_plain_h5py_matches_the_schema(tmp_path, data):
    path = write_export(tmp_path / "e.h5", **data)
    with h5py.File(path, "r") as f:
        emb = f["embeddings"]
        assert emb.dtype == np.float32 and emb.shape == (N, D)
        assert emb.chunks is not None and emb.compression is None  # default: no filter
        assert f["labels"].dtype == np.int64 and f["labels"].shape == (N,)
        assert f["indices"].dtype == np.int64 and f["indices"].shape == (N,)
        for name in ("pca", "tsne"):
            assert f[f"projections/{name}"].dtype == np.float32
            assert f[f"projections/{name}"].shape == (N, 2)
        assert f["factors/shape"].dtype == np.int64
        assert json.loads(f["factors/shape"].attrs["values"]) == ["circle", "square", "triangle"]
        assert f.attrs["format_version"] == 1
        assert json.loads(f.attrs["config"])["backbone"]["width"] == 32
        for key in ("method", "dataset", "split", "config", "checkpoint", "checkpoint_sha256",
                    "step", "epoch", "seed", "created", "workbench_version"):
            assert key in f.attrs, key


def test_minimal_export_fills_unknowns(tmp_path):
    path = write_export(tmp_path / "m.h5", np.ones((3, 2)), None, None)
    exp = read_export(path)
    assert exp.embeddings.dtype == np.float32
    np.testing.assert_array_equal(exp.labels, [-1, -1, -1])
    np.testing.assert_array_equal(exp.indices, [0, 1, 2])
    assert exp.attrs["config"] == {} and exp.attrs["step"] == -1
    assert exp.projections == {} and exp.factors == {}


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(labels=np.zeros(N - 1, dtype=int)), "labels must have shape"),
        (dict(projections={"pca": np.zeros((N, 3))}), "projection 'pca' must have shape"),
        (dict(projections={"mds": np.zeros((N, 2))}), "unknown projection 'mds'"),
        (dict(embeddings=np.zeros(N)), "embeddings must be"),
    ],
)
def test_bad_shapes_are_refused_before_writing(tmp_path, data, change, message):
    with pytest.raises(ExportError, match=message):
        write_export(tmp_path / "e.h5", **{**data, **change})
    assert files_in(tmp_path) == []


def test_random_bytes_and_text_files_are_not_exports(tmp_path):
    (tmp_path / "noise.h5").write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp_path / "notes.h5").write_text("embedding notes\n")
    for name in ("noise.h5", "notes.h5"):
        with pytest.raises(ExportError, match="not an HDF5 file"):
            read_export(tmp_path / name)
    with pytest.raises(ExportError, match="no such file"):
        read_export(tmp_path / "missing.h5")


def test_plain_hdf5_without_format_version_is_not_an_export(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["embeddings"] = np.zeros((2, 2), dtype=np.float32)
    with pytest.raises(ExportError, match="not an SSL Workbench export"):
        read_export(tmp_path / "other.h5")


def test_newer_format_version_names_the_version_this_build_reads(tmp_path, data):
    path = write_export(tmp_path / "e.h5", **data)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(ExportError, match=f"format_version {FORMAT_VERSION + 1}.*reads format_version {FORMAT_VERSION}"):
        read_export(path)


def test_missing_required_dataset(tmp_path, data):
    path = write_export(tmp_path / "e.h5", **data)
    with h5py.File(path, "r+") as f:
        del f["indices"]
    with pytest.raises(ExportError, match="missing required dataset.*/indices"):
        read_export(path)


@pytest.mark.parametrize("failure", [Cancelled, OSError])
def test_failed_write_leaves_previous_file_intact_and_no_temp(tmp_path, data, monkeypatch, failure):
    import workbench.export as export

    target = tmp_path / "e.h5"
    write_export(target, **data)
    before = sha256_file(target)
    # small write blocks so the failure lands between blocks, mid-file
    monkeypatch.setattr(export, "_CHUNK_BYTES", 4 * D * 5)
    monkeypatch.setattr(export, "_WRITE_BLOCK_BYTES", 4 * D * 10)
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) >= 3

    def disk_full(fraction):
        if fraction > 0.3:
            raise OSError(28, "No space left on device")

    bigger = {**data, "embeddings": data["embeddings"] + 1}
    if failure is Cancelled:
        with pytest.raises(Cancelled):
            write_export(target, **bigger, cancel=cancel)
    else:
        with pytest.raises(ExportError, match="e.h5: no space left on device"):
            write_export(target, **bigger, progress=disk_full)
    assert sha256_file(target) == before
    assert files_in(tmp_path) == ["e.h5"]
    np.testing.assert_array_equal(read_export(target).embeddings, data["embeddings"])


def test_unwritable_directory_is_an_export_error(tmp_path, data):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ExportError, match="cannot write .*is not a directory"):
        write_export(tmp_path / "a_file" / "e.h5", **data)
    with pytest.raises(ExportError, match="does not exist"):
        write_export(tmp_path / "nowhere" / "e.h5", **data)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_directory_is_an_export_error(tmp_path, data):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ExportError, match="cannot write.*ermission"):
            write_export(locked / "e.h5", **data)
    finally:
        locked.chmod(0o700)


def test_sha256_file(tmp_path):
    (tmp_path / "x").write_bytes(b"abc")
    assert sha256_file(tmp_path / "x") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def _datasets(path) -> dict:
    """Every dataset of an HDF5 file as numpy arrays, by path."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.mark.parametrize("compression", ["gzip", "none"])  # through the chunk cache, and without one
def test_chunked_write_is_identical_to_a_direct_write(tmp_path, data, monkeypatch, compression):
    import workbench.export as export

    # tiny chunks and ragged blocks, so blocks end mid-chunk and chunks span blocks
    monkeypatch.setattr(export, "_CHUNK_BYTES", 4 * D * 6)
    with ExportWriter(tmp_path / "pieces.h5", rows=N, compression=compression) as writer:
        for start, stop in ((0, 7), (7, 8), (8, 31), (31, N)):
            writer.add_rows(data["embeddings"][start:stop])
        writer.finish(data["labels"], data["indices"], data["projections"], data["factors"],
                      data["factor_values"], data["attrs"])
    with h5py.File(tmp_path / "pieces.h5", "r") as f:
        assert f["embeddings"].chunks == (6, D)
        assert f["embeddings"].compression == (None if compression == "none" else compression)
    with h5py.File(tmp_path / "direct.h5", "w") as f:  # the same arrays in one plain h5py call each
        f["embeddings"] = data["embeddings"]
        f["labels"], f["indices"] = data["labels"].astype(np.int64), data["indices"].astype(np.int64)
        for name, proj in data["projections"].items():
            f[f"projections/{name}"] = proj.astype(np.float32)
        for name, codes in data["factors"].items():
            f[f"factors/{name}"] = codes.astype(np.int64)
    pieces, direct = _datasets(tmp_path / "pieces.h5"), _datasets(tmp_path / "direct.h5")
    assert sorted(pieces) == sorted(direct)
    for name, arr in direct.items():
        assert pieces[name].dtype == arr.dtype, name
        np.testing.assert_array_equal(pieces[name], arr, err_msg=name)
    assert files_in(tmp_path) == ["direct.h5", "pieces.h5"]


def test_writer_refuses_wrong_rows_and_leaves_nothing(tmp_path, data):
    target = tmp_path / "e.h5"
    write_export(target, **data)
    before = sha256_file(target)
    with pytest.raises(ExportError, match="only 10 of 50 embedding rows"):
        with ExportWriter(target, rows=N) as writer:
            writer.add_rows(data["embeddings"][:10])
            writer.finish()
    with pytest.raises(ExportError, match="have 3 columns; earlier rows had 8"):
        with ExportWriter(target, rows=N) as writer:
            writer.add_rows(data["embeddings"][:10])
            writer.add_rows(np.zeros((5, 3)))
    with pytest.raises(ExportError, match="60 embedding rows given for an export of 50"):
        with ExportWriter(target, rows=N) as writer:
            writer.add_rows(np.zeros((60, D)))
    with pytest.raises(ExportError, match="at least one row"):
        ExportWriter(target, rows=0)
    with ExportWriter(target, rows=N) as writer:  # left without finish(): nothing happens to target
        writer.add_rows(data["embeddings"])
    assert sha256_file(target) == before and files_in(tmp_path) == ["e.h5"]


def test_hundred_thousand_rows_write_in_chunks_and_read_back_in_slices(tmp_path):
    n, d = 120_000, 8
    rng = np.random.default_rng(1)
    emb = rng.standard_normal((n, d)).astype(np.float32)
    labels = rng.integers(0, 10, n)
    seen = []
    path = write_export(tmp_path / "big.h5", emb, labels, None, {"pca": emb[:, :2]},
                        {"shape": labels % 4}, progress=seen.append)
    assert seen[-1] == 1.0
    with h5py.File(path, "r") as f:
        ds = f["embeddings"]
        assert ds.shape == (n, d) and ds.chunks[1] == d and ds.chunks[0] * d * 4 <= 2**20
        np.testing.assert_array_equal(ds[99_990:100_010], emb[99_990:100_010])
    lazy = read_export(path, load=False)
    assert lazy.embedding_shape == (n, d) and lazy.embeddings is None
    np.testing.assert_array_equal(lazy.labels, labels)
    np.testing.assert_array_equal(read_export(path).embeddings, emb)


# --- export_run: rows streamed from the model to the file ------------------------------------
def _fake_loaded(tmp_path, with_factors: bool):
    """What build.load_from_run returns, for a fixed linear 'model' over a small shapes set."""
    import torch

    from workbench.build import Loaded
    from workbench.config import RunConfig
    from workbench.data.base import make_dataset
    from workbench.data.shapes import FACTORS, generate_shapes

    x_train, f_train = generate_shapes(150, 4)
    x_test, f_test = generate_shapes(90, 5)
    factors = dict(factors={k: list(v) for k, v in FACTORS.items()}, factors_train=f_train,
                   factors_test=f_test) if with_factors else {}
    ds = make_dataset("shapes", x_train, f_train["shape"], x_test, f_test["shape"], list(FACTORS["shape"]),
                      **factors)
    weights = torch.from_numpy(np.random.default_rng(0).standard_normal((3 * 32 * 32, 6)).astype(np.float32))
    checkpoint = tmp_path / "best.pt"
    checkpoint.write_bytes(b"weights")
    return Loaded(run=RunConfig(dataset="shapes", method="rotation"),
                  method=SimpleNamespace(embed=lambda x: x.flatten(1) @ weights), dataset=ds,
                  device=torch.device("cpu"), checkpoint=checkpoint, step=3, epoch=1)


@pytest.mark.parametrize("projections, with_factors", [((), False), (("pca",), True)])
def test_export_run_streams_rows_and_matches_a_direct_embedding(tmp_path, monkeypatch, projections, with_factors):
    import torch

    import workbench.run_export as run_export
    from workbench.embeddings import compute_embeddings, project

    loaded = _fake_loaded(tmp_path, with_factors)
    monkeypatch.setattr(run_export, "load_from_run", lambda *a, **k: loaded)
    monkeypatch.setattr(run_export, "_ROW_BLOCK", 64)  # 150 + 90 rows: ragged blocks in both parts
    added = []
    real_add = ExportWriter.add_rows
    monkeypatch.setattr(ExportWriter, "add_rows", lambda self, block: (added.append(len(block)), real_add(self, block)))
    stages = []
    out = run_export.export_run(tmp_path, tmp_path / "e.h5", split="all", projections=projections,
                                progress=lambda fr, stage: stages.append((fr, stage)))
    assert added == [64, 64, 22, 64, 26]
    direct = np.concatenate([compute_embeddings(loaded.method.embed, x) for x in (loaded.dataset.x_train,
                                                                                  loaded.dataset.x_test)])
    exp = read_export(out)
    np.testing.assert_array_equal(exp.embeddings, direct)
    np.testing.assert_array_equal(exp.indices, np.r_[np.arange(150), np.arange(90)])
    # /split says which split each row's index refers to, so rows join back to the data (docs/HDF5.md)
    np.testing.assert_array_equal(exp.split, np.r_[np.zeros(150), np.ones(90)])
    with h5py.File(out, "r") as f:
        assert f["split"].dtype == np.uint8 and json.loads(f["split"].attrs["values"]) == ["train", "test"]
    data = {0: loaded.dataset.x_train, 1: loaded.dataset.x_test}
    joined = torch.stack([data[int(s)][int(i)] for s, i in zip(exp.split, exp.indices)])
    np.testing.assert_array_equal(compute_embeddings(loaded.method.embed, joined), exp.embeddings)
    np.testing.assert_array_equal(exp.labels, np.r_[loaded.dataset.y_train.numpy(), loaded.dataset.y_test.numpy()])
    assert set(exp.projections) == set(projections)
    if projections:
        np.testing.assert_allclose(exp.projections["pca"], project(direct, "pca"), atol=1e-5)
    assert bool(exp.factors) == with_factors
    fractions = [fr for fr, _ in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert files_in(tmp_path) == ["best.pt", "e.h5"]


@pytest.mark.parametrize("split, code", [("test", 1), ("train", 0)])
def test_one_split_export_marks_every_row(tmp_path, monkeypatch, split, code):
    import workbench.run_export as run_export

    monkeypatch.setattr(run_export, "load_from_run", lambda *a, **k: _fake_loaded(tmp_path, False))
    exp = read_export(run_export.export_run(tmp_path, tmp_path / "e.h5", split=split, projections=()))
    assert exp.attrs["split"] == split and set(exp.split.tolist()) == {code}


def test_files_without_split_dataset_still_read(tmp_path, data):
    path = write_export(tmp_path / "e.h5", **data)  # data's attrs say split "test"; no /split written
    with h5py.File(path, "r") as f:
        assert "split" not in f
    assert set(read_export(path).split.tolist()) == {1}
    with h5py.File(path, "r+") as f:
        f.attrs["split"] = "all"
    assert read_export(path).split is None  # an older `all` export: which rows came from where is unknown


@pytest.mark.parametrize("stage, nth", [("embedding", 2), ("pca projection", 1), ("writing", 1)])
def test_cancelled_export_run_leaves_no_partial_file(tmp_path, monkeypatch, stage, nth):
    import workbench.run_export as run_export

    monkeypatch.setattr(run_export, "load_from_run", lambda *a, **k: _fake_loaded(tmp_path, False))
    monkeypatch.setattr(run_export, "_ROW_BLOCK", 64)
    target = write_export(tmp_path / "e.h5", np.ones((2, 2)), None, None)  # an older export
    before = sha256_file(target)
    state = {"stage": ""}

    def progress(fraction, name):
        state["stage"] = name

    # cancel at the nth check in the chosen stage (mid-embedding: after rows reached the file)
    calls = []

    def cancel():
        calls.append(state["stage"])
        return calls.count(stage) >= nth

    with pytest.raises(Cancelled):
        run_export.export_run(tmp_path, target, split="all", projections=("pca",), progress=progress, cancel=cancel)
    assert calls.count(stage) == nth
    assert sha256_file(target) == before
    assert files_in(tmp_path) == ["best.pt", "e.h5"]



def test_default_export_is_chunked_and_unfiltered(tmp_path, data):
    # compression costs ~80x the CPU of a plain write on embedding floats (bench/export.py)
    path = write_export(tmp_path / "e.h5", **data)
    with h5py.File(path, "r") as f:
        for name in ("embeddings", "labels", "indices", "projections/pca", "factors/shape"):
            assert f[name].compression is None and not f[name].shuffle, name
        assert f["embeddings"].chunks is not None


@pytest.mark.parametrize("name, filter_, level", [("lzf", "lzf", None), ("gzip", "gzip", 4), ("gzip-9", "gzip", 9)])
def test_named_compressions_apply_their_filter_with_shuffle(tmp_path, data, name, filter_, level):
    path = write_export(tmp_path / "e.h5", **data, compression=name)
    with h5py.File(path, "r") as f:
        for ds in ("embeddings", "labels", "projections/pca"):
            assert f[ds].compression == filter_ and f[ds].shuffle, ds
            assert f[ds].compression_opts == level
        np.testing.assert_array_equal(f["embeddings"][:], data["embeddings"].astype(np.float32))


def test_unknown_compression_is_refused_before_writing(tmp_path, data):
    with pytest.raises(ExportError, match="unknown compression 'zstd'; choose one of none, lzf, gzip, gzip-9"):
        write_export(tmp_path / "e.h5", **data, compression="zstd")
    assert list(tmp_path.iterdir()) == []


def test_cli_export_passes_the_compression_flag(tmp_path, monkeypatch):
    import workbench.run_export as run_export
    from workbench.cli import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    seen = {}

    def fake_export_run(run_dir, out, **kwargs):
        seen.update(kwargs)
        return out

    monkeypatch.setattr(run_export, "export_run", fake_export_run)
    out = tmp_path / "e.h5"
    assert main(["export", str(run), "--out", str(out), "--quiet", "--compression", "gzip-9"]) == 0
    assert seen["compression"] == "gzip-9"
    assert main(["export", str(run), "--out", str(out), "--quiet"]) == 0
    assert seen["compression"] == "none"


def test_export_run_refuses_an_unknown_compression_before_loading(tmp_path):
    from workbench.run_export import export_run

    with pytest.raises(ExportError, match="unknown compression"):
        export_run(tmp_path / "no-run", tmp_path / "e.h5", compression="bzip")
