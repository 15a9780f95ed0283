"""HDF5 export: round trip, the on-disk schema, clear errors for wrong files, atomic writes."""
import json
import os
from datetime import datetime

import h5py
import numpy as np
import pytest

from workbench.embeddings import Cancelled
from workbench.export import FORMAT_VERSION, ExportError, read_export, sha256_file, write_export

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
    assert exp.attrs["workbench_version"]
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
        assert emb.chunks is not None and emb.compression in ("gzip", "lzf")
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
        with pytest.raises(ExportError, match="No space left on device"):
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
