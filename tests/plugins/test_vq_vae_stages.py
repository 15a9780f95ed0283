"""MaskGIT's second stage: `tokenizer_run` loads a vq_vae run's tokenizer, freezes it, and trains only the prior."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from plugins.vq_vae import TOKENIZER_PARTS, VQVAE
from workbench.api import Batch
from workbench.checkpoint import save_checkpoint
from workbench.config import RunConfig, save_run_config
from workbench.optim import build_optimizer
from workbench.rundir import LAST, RunDir

TOKENIZER = {"codebook_size": 32, "code_dim": 8}


def _waves(n: int = 16, length: int = 256) -> Batch:
    g = torch.Generator().manual_seed(3)
    t = torch.arange(length, dtype=torch.float32)
    freq = torch.randint(2, 30, (n, 1), generator=g).float()
    x = torch.sin(2 * math.pi * freq * t / length)[:, None] + 0.1 * torch.randn(n, 1, length, generator=g)
    return Batch(x, torch.arange(n) % 3, torch.arange(n))


def _method(make, **cfg) -> VQVAE:
    return make.method(VQVAE, (1, 256), spec=make.spec((1, 256), "signals", "abc"), **{**TOKENIZER, **cfg})


def _run_folder(folder: Path, method: str = "vq_vae", dataset: str = "signals", weights: dict | None = None,
                **method_config) -> Path:
    """A run folder as the trainer leaves it: config.json and, given weights, checkpoints/last.pt."""
    RunDir(folder).checkpoints.mkdir(parents=True)
    settings = {**TOKENIZER, **method_config} if method == "vq_vae" else method_config
    save_run_config(RunConfig(method=method, dataset=dataset, method_config=settings),
                    RunDir(folder).config)
    if weights is not None:
        save_checkpoint({"model": weights, "step": 1, "epoch": 1}, RunDir(folder).checkpoints / LAST)
    return folder


@pytest.fixture
def first_stage(make, tmp_path) -> tuple[VQVAE, Path]:
    """A vq_vae tokenizer after one training step (codewords on data, BatchNorm statistics moved), saved as a run."""
    tokenizer = _method(make)
    tokenizer.training_step(_waves(32))
    tokenizer.on_step_end(0, 1)
    tokenizer.eval()
    return tokenizer, _run_folder(tmp_path / "tokenizer", weights=tokenizer.state_dict())


def test_tokenizer_run_freezes_the_tokenizer_and_only_the_prior_learns(make, first_stage):
    tokenizer, folder = first_stage
    method = _method(make, prior_layers=1, prior_dim=16, tokenizer_run=str(folder))
    method.load_initial_weights()
    before = {k: v.clone() for k, v in method.state_dict().items()}
    frozen = [k for k in before if not k.startswith("prior.")]
    loaded = [k for k in frozen if k.startswith(TOKENIZER_PARTS)]
    assert loaded and all(torch.equal(before[k], tokenizer.state_dict()[k]) for k in loaded)
    # the host's optimiser (it skips parameters without requires_grad) holds the prior alone
    optimizer = build_optimizer(method.parameters(), RunConfig(lr=3e-3))
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert held == {id(p) for p in method.prior.parameters()}
    method.train()  # as the trainer does before each epoch
    assert method.prior.training and not method.encoder.training and not method.decoder.training
    for step in range(3):
        out = method.training_step(_waves(32))
        assert set(out.logs) >= {"prior_loss", "prior_masked_acc"} and "recon_mse" not in out.logs
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        method.on_step_end(step, 3)
    after = method.state_dict()
    # weights, BatchNorm statistics, codewords and usage counts: all as the first stage left them
    changed = [k for k in frozen if not torch.equal(before[k], after[k])]
    assert not changed, changed
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("prior."))


def test_without_tokenizer_run_both_stages_train_together(make):
    method = _method(make, prior_layers=1, prior_dim=16)
    method.load_initial_weights()  # nothing to load
    assert all(p.requires_grad for p in method.encoder.parameters())
    assert "recon_mse" in method.training_step(_waves()).logs


def _problem(tmp_path: Path, folder: Path | str, **cfg) -> str | None:
    config = VQVAE.Config(**{**TOKENIZER, "prior_layers": 1, "tokenizer_run": str(folder), **cfg})
    return VQVAE.settings_problem(config, RunConfig(method="vq_vae", dataset="signals"))


def test_a_fitting_run_folder_is_accepted(tmp_path):
    assert _problem(tmp_path, _run_folder(tmp_path / "ok")) is None
    assert VQVAE.settings_problem(VQVAE.Config(), RunConfig(method="vq_vae", dataset="signals")) is None


@pytest.mark.parametrize("make_folder, cfg, words", [
    (lambda p: p / "nowhere", {}, ["no run folder", "nowhere"]),
    (lambda p: p, {}, ["is not a run folder", "config.json"]),  # a folder, but no run in it
    (lambda p: _run_folder(p / "rot", method="rotation"), {}, ["is a rotation run, not a vq_vae run"]),
    (lambda p: _run_folder(p / "bert", method="bert_lite", dataset="lee", context=8), {},
     ["is a bert_lite run, not a vq_vae run"]),  # named before its foreign settings are read
    (lambda p: _run_folder(p / "digits", dataset="digits"), {}, ["trained on dataset digits", "signals"]),
    (lambda p: _run_folder(p / "big", codebook_size=64, stft_hop=8), {},
     ["another tokenizer", "codebook_size 64", "--set codebook_size=64 stft_hop=8"]),
    (lambda p: _run_folder(p / "ok"), {"prior_layers": 0}, ["prior_layers"]),
    (lambda p: _run_folder(p / "ok"), {"vicreg_weight": 0.1}, ["freezes the tokenizer", "vicreg_weight"]),
])
def test_a_run_folder_that_does_not_fit_is_refused_with_the_reason(tmp_path, make_folder, cfg, words):
    problem = _problem(tmp_path, make_folder(tmp_path), **cfg)
    assert problem is not None and all(w in problem for w in words), problem


def test_a_run_without_checkpoint_or_with_other_weights_is_refused(make, tmp_path):
    empty = _run_folder(tmp_path / "untrained")
    with pytest.raises(ValueError, match="tokenizer_run: .*no checkpoint yet"):
        _method(make, prior_layers=1, tokenizer_run=str(empty)).load_initial_weights()
    other = _method(make, decoder_width=16).state_dict()  # settings_problem would catch this; the weights too
    odd = _run_folder(tmp_path / "odd", weights=other)
    with pytest.raises(ValueError, match="does not fit this tokenizer"):
        _method(make, prior_layers=1, tokenizer_run=str(odd)).load_initial_weights()


def test_the_cli_refuses_a_bad_tokenizer_run_in_one_line_before_making_a_run(tmp_path, capsys):
    from workbench.cli import main
    runs = tmp_path / "runs"
    code = main(["train", "--method", "vq_vae", "--dataset", "signals", "--runs-root", str(runs), "--quiet",
                 "--set", f"tokenizer_run={tmp_path / 'missing'}", "--set", "prior_layers=1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "tokenizer_run" in err and "no run folder" in err
    assert not runs.exists() or not any(runs.iterdir())
