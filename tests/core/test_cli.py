"""The ssl-workbench command line: user errors in one line, and train → eval → export → resume."""
from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from workbench.cli import main
from workbench.export import read_export

TINY = ["--dataset", "digits", "--epochs", "1", "--batch-size", "64", "--device", "cpu",
        "--set", "probe_size=100", "--set", "linear_probe=false", "--quiet"]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_unknown_method_lists_the_methods(capsys):
    assert main(["train", "--method", "nope"]) == 2
    err = one_line_error(capsys)
    assert "nope" in err and "simclr" in err and "rotation" in err


def test_out_of_range_setting_names_the_field_and_range(capsys, tmp_path):
    assert main(["train", "--method", "simclr", "--set", "temperature=-1",
                 "--runs-root", str(tmp_path)]) == 2
    err = one_line_error(capsys)
    assert "temperature" in err and "> 0" in err
    assert not any(tmp_path.iterdir()), "no run directory for a rejected config"


@pytest.mark.parametrize("args, words", [
    (["train", "--set", "warp_speed=9"], ["warp_speed", "temperature"]),
    (["train", "--set", "novalue"], ["key=value"]),
    (["train", "--epochs", "0"], ["epochs", ">= 1"]),
    (["train", "--dataset", "folder"], ["root"]),
    (["train", "--dataset", "imagenet"], ["imagenet", "mnist5k"]),
    (["frobnicate"], ["frobnicate"]),
    (["eval", "/nonexistent/run"], ["not a run directory"]),
])
def test_user_errors_exit_2_with_one_clear_line(capsys, args, words):
    assert main(args) == 2
    err = one_line_error(capsys)
    for word in words:
        assert word in err


def test_empty_image_folder_is_a_clear_error(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "--dataset", "folder", "--data-root", str(empty),
                 "--runs-root", str(tmp_path / "runs")]) == 2
    assert "No readable images" in one_line_error(capsys)


def test_methods_and_datasets_list(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "simclr" in out and "joint-embedding" in out and "arXiv:2002.05709" in out
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "mnist5k" in out and "shapes" in out and "cifar10" in out


def test_methods_lists_the_lecture_and_thesis_methods_in_their_families(capsys):
    assert main(["methods"]) == 0
    families = {}
    for line in capsys.readouterr().out.splitlines():
        name, family, *_ = line.split()
        families[name] = family
    assert {m: families.get(m) for m in ("fvsbn", "nade", "pixelcnn", "lstm_lm", "bert_lite", "wav2vec2",
                                         "clip", "exemplar_cnn", "context_encoder", "vq_vae")} == {
        "fvsbn": "autoregressive", "nade": "autoregressive", "pixelcnn": "autoregressive",
        "lstm_lm": "autoregressive", "bert_lite": "masked-modelling", "wav2vec2": "masked-modelling",
        "clip": "image-text", "exemplar_cnn": "pretext", "context_encoder": "reconstruction",
        "vq_vae": "reconstruction"}


def test_validate_runs_one_step(capsys):
    assert main(["validate", "rotation"]) == 0
    assert "ok   rotation" in capsys.readouterr().out


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "--method", "rotation", "--run-dir", str(run_dir), *TINY]) == 0
    return run_dir


@pytest.mark.slow  # trains a run (trained_run fixture)
def test_train_eval_reports_model_and_floors(trained_run, capsys):
    assert (trained_run / "checkpoints" / "last.pt").is_file()
    assert main(["eval", str(trained_run), "--no-linear"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("model", "floor_raw_pixels", "floor_random_init"):
        assert 0.0 < result[key]["knn_top1"] <= 1.0, key
    assert result["method"] == "rotation" and result["dataset"] == "digits"
    assert isinstance(result["beats_random_init"], bool)
    assert result["verdict"]["beats_floor"] is result["beats_random_init"]  # kNN decides an image run
    assert result["verdict"]["decided_by"].startswith("kNN ")


@pytest.mark.slow  # trains a run (trained_run fixture)
def test_export_writes_the_documented_schema(trained_run, tmp_path, capsys):
    out = tmp_path / "emb.h5"
    assert main(["export", str(trained_run), "--out", str(out), "--projection", "pca,tsne",
                 "--quiet"]) == 0
    exp = read_export(out)
    assert exp.embeddings.dtype == np.float32 and exp.embeddings.shape[0] == 359
    assert set(exp.projections) == {"pca", "tsne"}
    assert exp.attrs["method"] == "rotation" and exp.attrs["split"] == "test"
    assert len(exp.attrs["checkpoint_sha256"]) == 64
    with h5py.File(out) as f:  # what a user's own script sees
        assert f.attrs["format_version"] == 1
        assert f["labels"].dtype == np.int64 and f["projections/tsne"].shape == (359, 2)


@pytest.mark.slow  # trains a run (trained_run fixture)
def test_export_rejects_unknown_projection(trained_run, tmp_path, capsys):
    assert main(["export", str(trained_run), "--out", str(tmp_path / "x.h5"),
                 "--projection", "mds"]) == 2
    assert "mds" in one_line_error(capsys)


@pytest.mark.slow  # trains a run (trained_run fixture)
def test_resume_a_finished_run_for_more_epochs(trained_run, tmp_path, capsys):
    import shutil
    run_dir = tmp_path / "copy"
    shutil.copytree(trained_run, run_dir)
    assert main(["resume", str(run_dir), "--epochs", "2", "--quiet"]) == 0
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    epochs = [e["epoch"] for e in events if e["type"] == "epoch"]
    assert epochs == [0, 1]
    assert events[-1]["type"] == "finished"


@pytest.mark.slow  # a CLI subprocess
def test_console_script_help():
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "train", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--set KEY=VALUE" in proc.stdout


def _finished_run_without_checkpoints(tmp_path):
    from workbench.config import new_run_config
    from workbench.runs import create_run_dir
    run_dir = create_run_dir(new_run_config("rotation", "digits", epochs=1), path=tmp_path / "run")
    (run_dir / "events.jsonl").write_text('{"type":"started","t":1,"step":0,"epoch":0}\n'
                                          '{"type":"finished","t":2,"step":9,"epoch":1,"message":"done"}\n')
    return run_dir


def test_resume_while_another_worker_trains_the_run_is_one_line(tmp_path, capsys):
    from workbench.runs import RunDir
    run_dir = _finished_run_without_checkpoints(tmp_path)
    (run_dir / "worker.pid").write_text("4242\n")
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    with RunDir(run_dir).acquire():
        assert main(["resume", str(run_dir), "--epochs", "3", "--quiet"]) == 2
    err = one_line_error(capsys)
    assert f"run {run_dir} is being trained by process 4242; stop it first" in err
    after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file() and p.name != "worker.lock"}
    assert after == before  # neither config.json (--epochs) nor events.jsonl changed


def test_a_failed_resume_leaves_a_finished_run_finished(tmp_path, capsys):
    from workbench.runs import summarize
    run_dir = _finished_run_without_checkpoints(tmp_path)
    before = (run_dir / "events.jsonl").read_bytes()
    assert main(["resume", str(run_dir), "--quiet"]) == 2
    assert "no complete checkpoint" in one_line_error(capsys)
    assert (run_dir / "events.jsonl").read_bytes() == before
    assert summarize(run_dir).status == "finished"


def test_resume_refuses_a_symlinked_events_file(tmp_path, capsys):
    run_dir = _finished_run_without_checkpoints(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("mine\n")
    (run_dir / "events.jsonl").unlink()
    (run_dir / "events.jsonl").symlink_to(outside)
    assert main(["resume", str(run_dir), "--quiet"]) == 2
    assert "outside the run folder" in one_line_error(capsys)
    assert outside.read_text() == "mine\n"


@pytest.mark.parametrize("extra, words", [
    (["--nproc", "2", "--batch-size", "63"], "does not split evenly over 2 processes"),
    (["--nproc", "0"], "processes=0 is out of range"),
])
def test_processes_that_cannot_train_are_one_clear_line(capsys, tmp_path, extra, words):
    args = ["train", "--dataset", "digits", "--device", "cpu", "--runs-root", str(tmp_path), *extra]
    assert main(args) == 2
    assert words in one_line_error(capsys)
    assert not list(tmp_path.iterdir())  # refused before a run folder was made


def test_create_only_makes_the_run_folder_for_a_users_own_launcher(capsys, tmp_path):
    target = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--device", "cpu", "--nproc", "2",
                 "--run-dir", str(target), "--create-only"]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    assert (target / "config.json").is_file() and not (target / "events.jsonl").exists()
    assert json.loads((target / "config.json").read_text())["processes"] == 2


def test_image_size_and_every_backbone_are_train_options(capsys, tmp_path):
    target = tmp_path / "run"
    assert main(["train", "--dataset", "shapes", "--device", "cpu", "--image-size", "96", "--backbone", "resnet50",
                 "--run-dir", str(target), "--create-only"]) == 0
    config = json.loads((target / "config.json").read_text())
    assert config["image_size"] == 96 and config["backbone"] == "resnet50"


@pytest.mark.slow  # two runs on signals, one of them scored by IS / FID: ~20 s on one core
def test_a_prior_trains_on_a_saved_tokenizer_run(tmp_path, monkeypatch):
    """MaskGIT's two stages from the command line: a vq_vae run, then `--set tokenizer_run=` it."""
    import functools

    import plugins.vq_vae
    from workbench import generative_scores
    from workbench.build import resolve_checkpoint
    from workbench.checkpoint import load_checkpoint
    from workbench.events import read_events
    # the scores' classifier and sample count cut down: the test is about the path, not the figures
    monkeypatch.setattr(generative_scores, "train_classifier",
                        functools.partial(generative_scores.train_classifier, epochs=1))
    monkeypatch.setattr(plugins.vq_vae, "MEASURE_SAMPLES", 60)
    tiny = ["--dataset", "signals", "--epochs", "1", "--batch-size", "512", "--device", "cpu", "--quiet",
            "--set", "codebook_size=16", "--set", "code_dim=8", "--set", "decoder_width=16",
            "--set", "probe_size=64", "--set", "linear_probe=false", "--set", "threads=1"]
    tokenizer, prior = tmp_path / "tokenizer", tmp_path / "prior"
    assert main(["train", "--method", "vq_vae", "--run-dir", str(tokenizer), *tiny]) == 0
    assert main(["train", "--method", "vq_vae", "--run-dir", str(prior), *tiny,
                 "--set", f"tokenizer_run={tokenizer}", "--set", "prior_layers=1", "--set", "prior_dim=16",
                 "--set", "generation_steps=2"]) == 0
    first, second = ([e for e in read_events(run) if e["type"] == "started"][0] for run in (tokenizer, prior))
    assert second["parameters"] < first["parameters"]  # the prior alone is trained
    measures = [e["measures"] for e in read_events(prior) if e["type"] == "eval" and "measures" in e]
    assert measures and {"IS generated", "FID generated vs train", "FID noise vs train"} <= set(measures[-1])
    assert list((prior / "previews").glob("*-generated.png"))
    loaded = load_checkpoint(resolve_checkpoint(tokenizer, "best"))["model"]
    trained = load_checkpoint(prior / "checkpoints" / "last.pt")["model"]
    tokenizer_keys = [k for k in loaded if k.startswith(("encoder.", "decoder.", "quantizer."))]
    assert tokenizer_keys and all(torch.equal(loaded[k], trained[k]) for k in tokenizer_keys)
    assert any(k.startswith("prior.") for k in trained)
