"""read_export on valid HDF5 with the wrong layout: one ExportError line, and links are never followed."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from workbench.export import ExportError, read_export, write_export

N = 6


@pytest.fixture
def good(tmp_path):
    rng = np.random.default_rng(0)
    return write_export(tmp_path / "e.h5", rng.standard_normal((N, 4)), np.arange(N) % 2, None,
                        projections={"pca": rng.standard_normal((N, 2))},
                        factors={"shape": np.arange(N) % 3}, factor_values={"shape": ["a", "b", "c"]},
                        split=np.r_[[0] * 4, [1] * 2])


def edit(path, change):
    with h5py.File(path, "r+") as f:
        change(f)
    return path


def replace(name, value):
    def change(f):
        del f[name]
        if isinstance(value, str) and value == "group":
            f.create_group(name)
        else:
            f[name] = value
    return change


CASES = [
    ("projections as a dataset", replace("projections", np.zeros((N, 2))), "/projections is a dataset where a group belongs"),
    ("factors as a dataset", replace("factors", np.zeros(N)), "/factors is a dataset where a group belongs"),
    ("labels as a group", replace("labels", "group"), "/labels is a group where a dataset belongs"),
    ("embeddings as a group", replace("embeddings", "group"), "/embeddings is a group where a dataset belongs"),
    ("words as a group", lambda f: f.create_group("words"), "/words is a group where a dataset belongs"),
    ("a group inside projections", lambda f: f["projections"].create_group("tsne"),
     "/projections/tsne is a group where a dataset belongs"),
    ("labels as strings", replace("labels", np.array([b"x"] * N)), "/labels has dtype"),
    ("labels as floats", replace("labels", np.zeros(N)), "/labels has dtype float64, expected integers"),
    ("embeddings as strings", replace("embeddings", np.array([[b"x"] * 2] * N)), "/embeddings has dtype"),
    ("embeddings 1-D", replace("embeddings", np.zeros(N, dtype=np.float32)), "/embeddings must be 2-D"),
    ("projection of width 3", replace("projections/pca", np.zeros((N, 3))), "has shape (6, 3), expected (6, 2)"),
    ("indices too short", replace("indices", np.zeros(N - 1, dtype=np.int64)), "/indices has shape (5,)"),
    ("a scalar label", replace("labels", 3), "/labels has shape ()"),
    ("words as numbers", lambda f: f.create_dataset("words", data=np.zeros(N)), "/words must be 6 strings"),
    ("split out of range", lambda f: f["split"].write_direct(np.full(N, 7, dtype=np.uint8)), "/split must hold codes"),
    ("split as floats", replace("split", np.zeros(N)), "/split has dtype float64"),
    ("missing attribute", lambda f: f.attrs.__delitem__("method"), "lacks root attribute(s) method"),
    ("attribute of the wrong type", lambda f: f.attrs.__setitem__("step", "ten"), "root attribute 'step' is str"),
    ("config not an object", lambda f: f.attrs.__setitem__("config", "[1, 2]"), "config attribute is not a JSON object"),
    ("format_version as text", lambda f: f.attrs.__setitem__("format_version", "1"), "invalid format_version"),
    ("factor without names", lambda f: f["factors/shape"].attrs.__delitem__("values"), "lacks its 'values' attribute"),
    ("factor names not JSON", lambda f: f["factors/shape"].attrs.__setitem__("values", "{"), "invalid 'values'"),
]


@pytest.mark.parametrize("what, change, message", CASES, ids=[c[0] for c in CASES])
def test_wrong_layout_is_one_clear_export_error(good, what, change, message):
    edit(good, change)
    with pytest.raises(ExportError) as caught:
        read_export(good)
    text = str(caught.value)
    assert message in text and str(good) in text and "\n" not in text


def test_external_link_is_refused_not_followed(good, tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["secret"] = np.arange(N * 4, dtype=np.float32).reshape(N, 4)
    edit(good, lambda f: (f.__delitem__("embeddings"), f.__setitem__("embeddings", h5py.ExternalLink(str(other), "secret"))))
    with pytest.raises(ExportError, match="/embeddings is an external link to another file"):
        read_export(good)


def test_external_link_to_a_missing_file_is_an_export_error(good, tmp_path):
    edit(good, lambda f: f["projections"].__setitem__("umap", h5py.ExternalLink("/nonexistent.h5", "x")))
    with pytest.raises(ExportError, match="/projections/umap is an external link"):
        read_export(good)


def test_soft_link_is_refused(good):
    edit(good, lambda f: (f.__delitem__("labels"), f.__setitem__("labels", h5py.SoftLink("/indices"))))
    with pytest.raises(ExportError, match="/labels is a soft link"):
        read_export(good)


def test_virtual_dataset_reading_another_file_is_refused(good, tmp_path):
    source = tmp_path / "source.h5"
    with h5py.File(source, "w") as f:
        f["rows"] = np.ones((N, 4), dtype=np.float32)
    layout = h5py.VirtualLayout(shape=(N, 4), dtype=np.float32)
    layout[:] = h5py.VirtualSource(str(source), "rows", shape=(N, 4))
    edit(good, lambda f: (f.__delitem__("embeddings"), f.create_virtual_dataset("embeddings", layout)))
    with pytest.raises(ExportError, match="keeps its data in other files"):
        read_export(good)


def test_the_untouched_file_reads(good):
    exp = read_export(good)
    assert exp.embedding_shape == (N, 4) and exp.factor_values == {"shape": ["a", "b", "c"]}
    np.testing.assert_array_equal(exp.split, [0, 0, 0, 0, 1, 1])
