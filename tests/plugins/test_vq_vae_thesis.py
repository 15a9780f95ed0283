"""The thesis's VQ-VAE (Mathisen 2024): the VICReg branch on two time-series views."""
from __future__ import annotations

import math

import pytest
import torch

from plugins.vq_vae import VIC_LAMBDA, VIC_MU, VIC_NU, VQVAE, griffin_lim
from workbench.api import Batch


def _waves(n: int = 16, length: int = 256) -> Batch:
    g = torch.Generator().manual_seed(3)
    t = torch.arange(length, dtype=torch.float32)
    freq = torch.randint(2, 30, (n, 1), generator=g).float()
    x = torch.sin(2 * math.pi * freq * t / length)[:, None] + 0.1 * torch.randn(n, 1, length, generator=g)
    return Batch(x, torch.arange(n) % 3, torch.arange(n))


def _sequence_method(make, **cfg) -> VQVAE:
    return make.method(VQVAE, (1, 256), spec=make.spec((1, 256), "waves", "abc"), codebook_size=32,
                       code_dim=8, **cfg)


def test_plain_vq_vae_is_unchanged_by_default(make):
    method = _sequence_method(make)
    assert method.cfg.vicreg_weight == 0 and not hasattr(method, "expander")
    assert not any(k.startswith("expander") for k in method.state_dict())
    out = method.training_step(_waves())
    assert not any(k.startswith("vicreg") for k in out.logs)
    with torch.no_grad():
        assert "views" not in method.eval().previews(_waves())


def test_branch_adds_the_weighted_vicreg_loss(make):
    method = _sequence_method(make, vicreg_weight=0.5)
    out = method.training_step(_waves())
    logs = out.logs
    vic = VIC_LAMBDA * logs["vicreg_invariance"] + VIC_MU * logs["vicreg_variance"] + VIC_NU * logs["vicreg_covariance"]
    assert logs["vicreg"].item() == pytest.approx(vic.item(), rel=1e-5)
    plain = logs["recon_mse"] + method.cfg.beta * logs["commitment"]
    assert out.loss.item() == pytest.approx((plain + 0.5 * logs["vicreg"]).item(), rel=1e-4)


def test_branch_trains_the_encoder_and_its_expander(make):
    method = _sequence_method(make, vicreg_weight=1.0)
    batch = _waves()
    torch.manual_seed(0)
    method.training_step(batch).loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in method.expander.parameters())
    # the reconstruction alone also reaches the encoder: compare with the branch's own gradient
    plain = _sequence_method(make)
    torch.manual_seed(0)
    plain.training_step(batch).loss.backward()
    first = method.encoder[0].weight
    assert not torch.allclose(first.grad, plain.encoder[0].weight.grad)


@pytest.mark.slow
def test_branch_lowers_its_vicreg_loss(make):
    method = _sequence_method(make, vicreg_weight=1.0)
    batch = _waves(32)
    optimizer = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for step in range(12):
        torch.manual_seed(5)  # the same views every step: a fixed objective
        out = method.training_step(batch)
        losses.append(out.logs["vicreg"].item())
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        method.on_step_end(step, 12)
    assert losses[-1] < 0.8 * losses[0], losses


def test_views_preview_shows_input_and_two_views(make):
    method = _sequence_method(make, vicreg_weight=1.0).eval()
    with torch.no_grad():
        preview = method.previews(_waves())["views"]
    assert len(preview.tiles) == 12 and preview.captions[:3] == ["input", "view 1", "view 2"]
    assert preview.columns == 3


def test_branch_refuses_images(make):
    with pytest.raises(ValueError, match="vicreg_weight needs sequence data"):
        make.method(VQVAE, vicreg_weight=1.0)


# --- the MaskGIT prior --------------------------------------------------------------------

def test_griffin_lim_finds_a_signal_with_the_wanted_magnitudes():
    t = torch.arange(256, dtype=torch.float32)
    x = torch.sin(2 * math.pi * 9 * t / 256)[None] + 0.5 * torch.sign(torch.sin(2 * math.pi * 3 * t / 256))[None]
    window = torch.hann_window(64)
    mag = torch.stft(x, 64, 16, window=window, center=True, return_complex=True).abs()
    y = griffin_lim(mag, 64, 16, 256, iters=64, generator=torch.Generator().manual_seed(0))
    rebuilt = torch.stft(y, 64, 16, window=window, center=True, return_complex=True).abs()
    assert y.shape == (1, 256)
    assert ((rebuilt - mag).norm() / mag.norm()).item() < 0.2  # spectral convergence (0.14 measured)
    start = torch.polar(mag, torch.rand(mag.shape, generator=torch.Generator().manual_seed(0)) * 2 * math.pi)
    y0 = torch.istft(start, 64, 16, window=window, center=True, length=256)
    before = torch.stft(y0, 64, 16, window=window, center=True, return_complex=True).abs()
    assert (rebuilt - mag).norm() < 0.3 * (before - mag).norm()  # the iterations did the work


def test_prior_is_off_by_default_and_refuses_images(make):
    assert not hasattr(_sequence_method(make), "prior")
    with pytest.raises(ValueError, match="prior_layers needs sequence data"):
        make.method(VQVAE, prior_layers=1)


@pytest.mark.slow
def test_prior_trains_on_the_tokens_and_every_parameter_learns(make):
    method = _sequence_method(make, prior_layers=1, prior_dim=16)
    batch = _waves(32)
    optimizer = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for step in range(15):
        torch.manual_seed(step % 3)  # a few fixed masks: a fixed objective
        out = method.training_step(batch)
        assert {"prior_loss", "prior_masked_acc"} <= set(out.logs)
        losses.append(out.logs["prior_loss"].item())
        optimizer.zero_grad()
        out.loss.backward()
        if step == 0:
            # (the host backbone is unused on sequences: the STFT frame encoder replaces it)
            missing = [n for n, p in method.named_parameters()
                       if p.requires_grad and p.grad is None and not n.startswith("backbone.")]
            assert not missing
        optimizer.step()
        method.on_step_end(step, 15)
    # below its start and below guessing uniformly among the 32 codes (log 32 = 3.47 nats)
    assert sum(losses[-3:]) < 0.9 * sum(losses[:3]) and sum(losses[-3:]) / 3 < math.log(32) - 0.2, losses


def test_prior_loss_does_not_reach_the_tokenizer(make):
    method = _sequence_method(make, prior_layers=1, prior_dim=16)
    torch.manual_seed(0)
    ids = method.quantise(method.encode(_waves().x))[2]
    loss, _ = method._prior_step(ids, _waves().y)
    loss.backward()
    assert all(p.grad is None for p in method.encoder.parameters())
    assert method.prior.out.weight.grad is not None


def test_generated_signals_and_their_preview_per_class(make):
    method = _sequence_method(make, prior_layers=1, prior_dim=16, generation_steps=4).eval()
    signals = method.generate(torch.tensor([0, 1, 3]), torch.Generator().manual_seed(0))
    assert signals.shape == (3, 1, 256) and torch.isfinite(signals).all()
    with torch.no_grad():
        preview = method.previews(_waves())["generated"]
    assert preview.columns == 4 and len(preview.tiles) == 12  # classes a, b, c: real + 3 generated
    assert preview.captions[:4] == ["real · a", "generated · a", "generated · a", "generated · a"]
    assert preview.captions[4] == "real · b"


def test_generation_survives_a_checkpoint_round_trip(make, tmp_path):
    from workbench.checkpoint import load_checkpoint, save_checkpoint
    method = _sequence_method(make, prior_layers=1, prior_dim=16, generation_steps=3)
    method.training_step(_waves())
    method.on_step_end(0, 1)
    method.eval()
    path = save_checkpoint({"model": method.state_dict()}, tmp_path / "last.pt")
    fresh = _sequence_method(make, prior_layers=1, prior_dim=16, generation_steps=3)
    fresh.load_state_dict(load_checkpoint(path)["model"])
    fresh.eval()
    classes = torch.tensor([0, 2])
    assert torch.equal(method.generate(classes, torch.Generator().manual_seed(4)),
                       fresh.generate(classes, torch.Generator().manual_seed(4)))


def test_measures_report_is_and_fid_with_their_baselines(make, tmp_path, monkeypatch):
    from workbench import generative_scores
    from workbench.data.base import make_dataset
    from workbench.measures import Splits, method_measures
    monkeypatch.setenv("SSL_WORKBENCH_CACHE", str(tmp_path))
    generative_scores._MEMO.clear()
    train, test = _waves(60), _waves(30)
    data = make_dataset("waves", train.x, train.y, test.x, test.y, ["a", "b", "c"], modality="sequence")
    method = _sequence_method(make, prior_layers=1, prior_dim=16, generation_steps=2)
    measures = method_measures(method, data, torch.device("cpu"))
    assert {"IS generated", "IS real (test split)", "IS noise", "FID generated vs train",
            "FID real (test vs train)", "FID noise vs train", "classifier test accuracy",
            "generated class agreement"} <= set(measures)
    assert measures["FID real (test vs train)"] < measures["FID noise vs train"]
    assert list((tmp_path / "generative-scores").glob("classifier-*.pt")), "the classifier is cached"
    assert _sequence_method(make).measures(Splits(data, torch.device("cpu"))) == {}  # no prior
    generative_scores._MEMO.clear()
