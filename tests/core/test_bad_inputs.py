"""Hostile or careless inputs get one clear line (exit code 2), never a traceback (issue 11)."""
from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench import cli
from workbench.build import build_method, load_from_run
from workbench.checkpoint import CheckpointError, save_checkpoint
from workbench.cli import main
from workbench.config import new_run_config, to_dict
from workbench.data import load_dataset
from workbench.events import read_events
from workbench.runs import create_run_dir, list_runs

TINY = {"epochs": 1, "batch_size": 64, "device": "cpu", "probe_size": 50, "linear_probe": False,
        "threads": 1}


pytestmark = pytest.mark.slow  # trains runs through the CLI


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def make_run(path: Path, method: str, with_meta: bool = True, **settings) -> Path:
    """A run folder with config.json and best.pt/last.pt of untrained weights: no training needed."""
    run = new_run_config(method, "digits", **{**TINY, **settings})
    run_dir = create_run_dir(run, path=path)
    model = build_method(run, load_dataset("digits"), "cpu")
    state = {"model": model.state_dict(), "step": 0, "epoch": 0}
    if with_meta:  # what the trainer stores beside the weights
        state.update(method=run.method, dataset=run.dataset, config=to_dict(run))
    for name in ("best.pt", "last.pt"):
        save_checkpoint(state, run_dir / "checkpoints" / name)
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {"rotation": make_run(root / "rotation", "rotation"),
            "autoencoder": make_run(root / "autoencoder", "autoencoder"),
            "rotation_mlp": make_run(root / "rotation_mlp", "rotation", backbone="mlp"),
            "bare_autoencoder": make_run(root / "bare", "autoencoder", with_meta=False)}


# --- item 7: a checkpoint of another run or method ------------------------------------------
@pytest.mark.parametrize("command", ["eval", "export"])
def test_checkpoint_of_another_method_is_one_line(runs, tmp_path, capsys, command):
    other = runs["autoencoder"] / "checkpoints" / "best.pt"
    extra = ["--no-floors", "--no-linear"] if command == "eval" else ["--out", str(tmp_path / "e.h5"), "--quiet"]
    # before the fix: RuntimeError "Error(s) in loading state_dict for Rotation" as a traceback
    assert main([command, str(runs["rotation"]), "--checkpoint", str(other), "--device", "cpu", *extra]) == 2
    err = one_line_error(capsys)
    assert f"checkpoint {other} was trained with method autoencoder on dataset digits" in err
    assert "not this run's rotation on digits" in err
    assert not (tmp_path / "e.h5").exists()


def test_resume_with_a_checkpoint_of_another_method_is_one_line(runs, tmp_path, capsys):
    run_dir = tmp_path / "copy"
    shutil.copytree(runs["rotation"], run_dir)
    shutil.copy(runs["autoencoder"] / "checkpoints" / "last.pt", run_dir / "checkpoints" / "last.pt")
    assert main(["resume", str(run_dir), "--quiet"]) == 2
    err = one_line_error(capsys)
    assert "was trained with method autoencoder on dataset digits, not this run's rotation" in err
    failed = [e for e in read_events(run_dir) if e["type"] == "failed"]
    assert failed and "detail" not in failed[-1], "a user error, not a crash with a traceback"


def test_checkpoint_with_other_settings_names_them(runs):
    with pytest.raises(CheckpointError, match=r"other settings than this run: backbone 'mlp', not 'small_cnn'"):
        load_from_run(runs["rotation"], str(runs["rotation_mlp"] / "checkpoints" / "best.pt"), device="cpu")


def test_checkpoint_without_its_run_details_says_what_does_not_fit(runs):
    with pytest.raises(CheckpointError, match=r"does not fit this run's rotation model \(missing weights, "
                                              r"unexpected weights\); is it from another run\?"):
        load_from_run(runs["rotation"], str(runs["bare_autoencoder"] / "checkpoints" / "best.pt"), device="cpu")


# --- item 7: bytes that are not UTF-8 in config.json and events.jsonl -----------------------
def _spoil_config(run_dir: Path) -> None:
    path = run_dir / "config.json"
    path.write_bytes(path.read_bytes().replace(b'"digits"', b'"dig\xefts"', 1))


@pytest.mark.parametrize("args", [["eval", "--no-floors"], ["export", "--out", "x.h5", "--quiet"],
                                  ["resume", "--quiet"]])
def test_non_utf8_config_is_one_line_naming_the_file(runs, tmp_path, capsys, args):
    run_dir = tmp_path / "bad"
    shutil.copytree(runs["rotation"], run_dir)
    _spoil_config(run_dir)
    command, *rest = args
    rest = [str(tmp_path / a) if a.endswith(".h5") else a for a in rest]
    assert main([command, str(run_dir), *rest]) == 2  # before: UnicodeDecodeError traceback
    err = one_line_error(capsys)
    assert f"{run_dir / 'config.json'} is not UTF-8" in err


def test_undecodable_event_lines_are_skipped_like_malformed_ones(tmp_path):
    good = [{"type": "started", "t": 1, "step": 0, "epoch": 0}, {"type": "finished", "t": 2, "step": 5, "epoch": 1}]
    lines = [json.dumps(good[0]).encode(), b'{"type": "log", "message": "\xff\xfe"}', b"\xc3\x28",
             json.dumps(good[1]).encode()]
    (tmp_path / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    assert list(read_events(tmp_path)) == good  # before: UnicodeDecodeError


def test_runs_list_survives_damaged_runs(runs, tmp_path):
    root = tmp_path / "root"
    for name in ("a", "b", "c"):
        shutil.copytree(runs["rotation"], root / name)
    _spoil_config(root / "b")
    (root / "c" / "events.jsonl").write_bytes(b'{"type": "started", "t": 1, "step": 0, "epoch": 0}\n\xff\n')
    summaries = {s.path.name: s for s in list_runs(root)}  # before: UnicodeDecodeError escaped
    assert set(summaries) == {"a", "c"}
    assert summaries["c"].status == "interrupted"


# --- item 7: --run-dir a file, an unwritable --runs-root ------------------------------------
def _no_training(monkeypatch):
    monkeypatch.setattr(cli, "_run", lambda run_dir, resume, quiet, **_: 0)


def test_run_dir_that_is_a_file_is_one_line(tmp_path, capsys, monkeypatch):
    _no_training(monkeypatch)
    target = tmp_path / "afile"
    target.write_text("mine")
    assert main(["train", "--method", "rotation", "--dataset", "digits", "--run-dir", str(target)]) == 2
    assert "is a file, not a folder" in one_line_error(capsys)  # before: NotADirectoryError traceback
    assert target.read_text() == "mine"


def test_unwritable_runs_root_is_one_line(tmp_path, capsys, monkeypatch):
    _no_training(monkeypatch)
    real_mkdir = Path.mkdir

    def denied(self, *args, **kwargs):  # tests may run as root, where chmod does not deny
        if str(self).startswith(str(tmp_path / "locked")):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", denied)
    assert main(["train", "--method", "rotation", "--dataset", "digits",
                 "--runs-root", str(tmp_path / "locked")]) == 2
    err = one_line_error(capsys)
    assert "permission denied" in err and str(tmp_path / "locked") in err


# --- item 9: a relative --data-root is stored absolute ----------------------------------------
def _image_folder(path: Path, n: int) -> Path:
    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(path / f"{i}.png")
    return path


def test_relative_data_root_is_stored_absolute(tmp_path, monkeypatch):
    _no_training(monkeypatch)
    _image_folder(tmp_path / "work" / "imgs", 6)
    monkeypatch.chdir(tmp_path / "work")
    assert main(["train", "--method", "rotation", "--dataset", "folder", "--data-root", "imgs",
                 "--run-dir", "run", "--device", "cpu"]) == 0
    stored = json.loads((tmp_path / "work" / "run" / "config.json").read_text())["data_root"]
    assert stored == str(tmp_path / "work" / "imgs")  # before: "imgs"
    monkeypatch.chdir(tmp_path)  # elsewhere: the run still finds its data
    from workbench.config import load_run_config
    run = load_run_config(tmp_path / "work" / "run" / "config.json")
    assert len(load_dataset(run.dataset, root=run.data_root).x_train) == 5


# --- item 10: degenerate sizes ----------------------------------------------------------------
@pytest.mark.parametrize("method", ["moco", "vicreg"])
def test_a_train_split_of_one_image_is_refused_before_the_run(tmp_path, capsys, method):
    folder = _image_folder(tmp_path / "two", 2)  # one image to train on, one to test
    root = tmp_path / "runs"
    # before: moco failed with "Expected more than 1 value per channel", vicreg with a NaN loss
    assert main(["train", "--method", method, "--dataset", "folder", "--data-root", str(folder),
                 "--runs-root", str(root), "--device", "cpu", "--quiet"]) == 2
    err = one_line_error(capsys)
    assert "has 1 training item; training needs at least 2" in err and "at least 3 images" in err
    assert not root.exists() or not any(root.iterdir()), "no run folder for a refused run"


def test_three_images_train_on_a_batch_of_two(tmp_path):
    from workbench.trainer import Trainer
    from workbench.events import EventWriter
    folder = _image_folder(tmp_path / "three", 3)
    run = new_run_config("vicreg", "folder", data_root=str(folder), **TINY)
    run_dir = create_run_dir(run, path=tmp_path / "run")
    writer = EventWriter(run_dir, io.StringIO())
    try:
        trainer = Trainer(run_dir, writer)
        trainer.setup()
        assert trainer.n_train == 2 and trainer.batch_size == 2
    finally:
        writer.close()


def _nan_trainer(tmp_path, monkeypatch):
    from workbench.api import StepOutput
    from workbench.events import EventWriter
    from workbench.trainer import Trainer
    run_dir = make_run(tmp_path / "run", "rotation")
    (run_dir / "checkpoints" / "last.pt").unlink()
    (run_dir / "checkpoints" / "best.pt").unlink()
    writer = EventWriter(run_dir, io.StringIO())
    trainer = Trainer(run_dir, writer)
    trainer.setup()
    # the trainer calls the step it prepared in setup (the method's, or DDP's around it)
    monkeypatch.setattr(trainer, "train_step",
                        lambda batch: StepOutput(next(trainer.method.parameters()).sum() * math.nan))
    return trainer, writer


def test_nan_message_does_not_claim_a_checkpoint_that_does_not_exist(tmp_path, monkeypatch):
    from workbench.trainer import TrainingFailed
    trainer, writer = _nan_trainer(tmp_path, monkeypatch)
    try:
        with pytest.raises(TrainingFailed) as err:  # losses are read (and checked) once per step event
            trainer.optimise(trainer.preview_batch)
            trainer.check_losses()
        assert "no checkpoint was written yet" in str(err.value)
        assert "last.pt" not in str(err.value)  # before: "the last good checkpoint is kept in checkpoints/last.pt"
        trainer.save("last.pt")
        with pytest.raises(TrainingFailed, match="last good checkpoint is kept in checkpoints/last.pt"):
            trainer.optimise(trainer.preview_batch)
            trainer.check_losses()
    finally:
        writer.close()


def test_check_data_refuses_a_train_split_of_one():
    from workbench.build import train_size_problem
    assert train_size_problem(2, "folder") is None
    assert "needs at least 2" in train_size_problem(1, "digits")
    assert "at least 3 images" in train_size_problem(1, "folder")
