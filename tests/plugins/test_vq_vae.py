"""VQ-VAE: quantisation, its losses and gradients, EMA codewords, usage, and the method on images and sequences."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from plugins.vq_vae import (VQVAE, VectorQuantizer, code_counts, ema_codebook_update, log_spectrogram,
                            nearest_codes, orthogonality_penalty, perplexity, straight_through, vq_losses)
from workbench.api import Batch, DataSpec, Preview
from workbench.backbones import build_backbone
from workbench.build import build_method
from workbench.config import ConfigError, new_run_config
from workbench.data.base import make_dataset
from workbench.evaluate import reconstruction_error


# --- pure functions -----------------------------------------------------------------------

def test_nearest_codes_picks_the_closest_codeword():
    codebook = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    z = torch.tensor([[9.0, 1.0], [1.0, 8.0], [0.5, -0.5], [6.0, 0.0]])
    assert nearest_codes(z, codebook).tolist() == [1, 2, 0, 1]


def test_losses_are_zero_when_the_encoder_outputs_are_codewords():
    codebook = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    z = codebook[torch.tensor([3, 1, 3, 7])]
    codebook_loss, commitment = vq_losses(z, codebook[nearest_codes(z, codebook)])
    assert codebook_loss.item() == 0.0 and commitment.item() == 0.0


def test_codebook_loss_moves_only_codewords_and_commitment_only_the_encoder():
    z = torch.tensor([[1.0, 2.0]], requires_grad=True)
    e = torch.tensor([[0.0, 0.0]], requires_grad=True)
    codebook_loss, commitment = vq_losses(z, e)
    assert codebook_loss.item() == pytest.approx(2.5) == commitment.item()  # mean of 1² and 2²
    codebook_loss.backward(retain_graph=True)
    assert z.grad is None and torch.allclose(e.grad, torch.tensor([[-1.0, -2.0]]))
    e.grad = None
    commitment.backward()
    assert e.grad is None and torch.allclose(z.grad, torch.tensor([[1.0, 2.0]]))


def test_straight_through_forwards_q_and_copies_the_gradient_to_z():
    z = torch.randn(5, 3, requires_grad=True)
    q = torch.randn(5, 3)
    out = straight_through(z, q)
    assert torch.allclose(out, q)
    upstream = torch.randn(5, 3)
    out.backward(upstream)
    assert torch.allclose(z.grad, upstream)


def test_perplexity_is_k_for_uniform_use_and_1_for_one_code():
    assert perplexity(torch.full((16,), 5.0)).item() == pytest.approx(16.0)
    assert perplexity(code_counts(torch.full((100,), 3), 16)).item() == pytest.approx(1.0)
    # two codes used equally, the rest dead: 2
    assert perplexity(code_counts(torch.tensor([0, 5, 0, 5]), 16)).item() == pytest.approx(2.0)


def test_orthogonality_penalty():
    assert orthogonality_penalty(torch.eye(4) * 3).item() == pytest.approx(0.0, abs=1e-7)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(1)))
    assert orthogonality_penalty(q[:4]).item() == pytest.approx(0.0, abs=1e-6)  # 4 orthogonal rows
    # two identical codewords: both off-diagonal cosines are 1 -> 2 / K² = 0.5
    assert orthogonality_penalty(torch.tensor([[1.0, 1.0], [2.0, 2.0]])).item() == pytest.approx(0.5)
    assert orthogonality_penalty(torch.randn(10, 3)).item() > 0  # K > D cannot be orthogonal


def test_ema_with_no_memory_puts_a_codeword_on_the_mean_of_its_vectors():
    size, total = torch.ones(3), torch.zeros(3, 2)
    z = torch.tensor([[1.0, 1.0], [3.0, 5.0], [-4.0, 0.0]])
    idx = torch.tensor([0, 0, 2])
    size, total, codebook = ema_codebook_update(size, total, z, idx, decay=0.0)
    assert torch.allclose(codebook[0], torch.tensor([2.0, 3.0]), atol=1e-4)
    assert torch.allclose(codebook[2], torch.tensor([-4.0, 0.0]), atol=1e-4)
    assert size.tolist() == [2.0, 0.0, 1.0]


def test_ema_moves_a_codeword_towards_the_mean_step_by_step():
    start = torch.tensor([[10.0, 10.0]])
    size, total = torch.ones(1), start.clone()
    z = torch.tensor([[0.0, 1.0], [2.0, 3.0]])  # mean (1, 2)
    distances = []
    for _ in range(200):
        size, total, codebook = ema_codebook_update(size, total, z, torch.zeros(2, dtype=torch.long), 0.9)
        distances.append((codebook[0] - torch.tensor([1.0, 2.0])).norm().item())
    assert all(b < a for a, b in zip(distances[:50], distances[1:50]))  # then it sits there
    assert distances[-1] < 1e-3


def test_log_spectrogram_shape_and_peak():
    t = torch.arange(256, dtype=torch.float32)
    sine = torch.sin(2 * math.pi * 8 * t / 64)  # 8 cycles per 64-sample window: bin 8
    x = torch.stack([sine, 0.1 * sine])[:, None]  # (2, 1, 256)
    spec = log_spectrogram(x, n_fft=64, hop=16)
    assert spec.shape == (2, 33, 17)
    assert (spec[:, :, 8].argmax(1) == 8).all()
    assert spec.min().item() >= 0  # log(1 + |X|)
    two = log_spectrogram(torch.cat([x[:1], x[1:]], 1), 64, 16)  # channels stack their bins
    assert two.shape == (1, 66, 17)


# --- the quantiser ------------------------------------------------------------------------

def test_ema_quantiser_has_no_trainable_codebook_and_gradient_one_has():
    ema = VectorQuantizer(8, 4, ema=True)
    grad = VectorQuantizer(8, 4, ema=False)
    assert not list(ema.parameters()) and "codebook" in dict(ema.named_buffers())
    assert [n for n, _ in grad.named_parameters()] == ["codebook"]
    z = torch.randn(6, 4, requires_grad=True)
    out = grad(z)
    (out.q.sum() + out.codebook_loss).backward()
    assert grad.codebook.grad is not None and grad.codebook.grad.abs().sum() > 0
    assert torch.allclose(z.grad, torch.ones_like(z))  # the codebook loss sees z detached


def test_quantiser_update_counts_usage_and_moves_ema_codewords():
    vq = VectorQuantizer(4, 2, ema=True)
    z = torch.tensor([[5.0, 5.0], [5.0, 5.0]])
    idx = torch.tensor([2, 2])
    vq.update(z, idx, decay=0.0)
    assert vq.usage.tolist() == [0.0, 0.0, 2.0, 0.0]
    assert torch.allclose(vq.codebook[2], torch.tensor([5.0, 5.0]), atol=1e-3)
    vq.update(z, idx, decay=0.0)
    assert vq.usage[2].item() == pytest.approx(0.99 * 2 + 2)
    assert vq.last_used.tolist() == [0, 0, 2, 0] and vq.steps.item() == 2


def test_usage_preview_counts_only_recently_picked_codes(make):
    method = make.method(VQVAE, codebook_size=4, code_dim=2)
    vq = method.quantizer
    vq.update(torch.zeros(3, 2), torch.tensor([0, 1, 3]), 0.99)  # step 1: codes 0, 1, 3
    for _ in range(100):
        vq.update(torch.zeros(2, 2), torch.tensor([0, 0]), 0.99)  # then only code 0
    assert vq.last_used.tolist() == [101, 1, 0, 1]
    caption = method._usage_preview().captions[0]
    assert caption.startswith("1 of 4 codes picked in the last 100 steps · perplexity ")


# --- the method ---------------------------------------------------------------------------

def _waves(n: int = 8, length: int = 256) -> Batch:
    g = torch.Generator().manual_seed(3)
    t = torch.arange(length, dtype=torch.float32)
    freq = torch.randint(2, 30, (n, 1), generator=g).float()
    x = torch.sin(2 * math.pi * freq * t / length)[:, None] + 0.1 * torch.randn(n, 1, length, generator=g)
    return Batch(x, torch.arange(n) % 3, torch.arange(n))


def test_image_step_logs_usage_perplexity_and_recon_mse(make):
    method = make.method(VQVAE, codebook_size=16, code_dim=8)
    out = method.training_step(make.batch())
    assert set(out.logs) == {"recon_mse", "commitment", "usage", "perplexity"}
    assert 0 < out.logs["usage"].item() <= 1
    assert 1 <= out.logs["perplexity"].item() <= 16
    grad = make.method(VQVAE, codebook_size=16, code_dim=8, codebook_update="gradient", ortho_weight=0.1)
    logs = grad.training_step(make.batch()).logs
    assert {"codebook_loss", "orthogonality"} <= set(logs)


def test_gradients_reach_the_encoder_through_the_quantiser(make):
    method = make.method(VQVAE, codebook_size=16, code_dim=8, beta=0.0)  # only the decoder's loss
    method.training_step(make.batch()).loss.backward()
    assert method.project.weight.grad.abs().sum() > 0
    first_conv = next(m for m in method.backbone.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.weight.grad.abs().sum() > 0
    assert method.quantizer.codebook.grad is None  # EMA codewords: no gradient


def test_ema_and_usage_apply_only_after_the_optimiser_step(make):
    method = make.method(VQVAE, codebook_size=16, code_dim=8, codebook_init="uniform")
    before = method.quantizer.codebook.clone()
    method.training_step(make.batch())
    assert torch.equal(method.quantizer.codebook, before) and method.quantizer.usage.sum() == 0
    method.on_step_end(0, 10)
    assert not torch.equal(method.quantizer.codebook, before)
    assert method.quantizer.usage.sum().item() == 8 * 7 * 7  # one token per grid cell
    method.eval()
    with torch.no_grad():
        method.training_step(make.batch())  # evaluation-mode steps never touch the codebook
    method.on_step_end(1, 10)
    assert method.quantizer.usage.sum().item() == 8 * 7 * 7


def test_data_init_puts_the_codewords_on_encoder_outputs_once(make):
    method = make.method(VQVAE, codebook_size=16, code_dim=8)
    x = make.batch()
    method.eval()
    with torch.no_grad():
        method.training_step(x)  # evaluation mode: no initialisation
    assert not method.quantizer.initialised
    method.train()
    method.training_step(x)
    with torch.no_grad():
        z = method.encode(x.x).movedim(1, -1).reshape(-1, 8)  # BatchNorm in train mode: same z
    codebook = method.quantizer.codebook
    assert method.quantizer.initialised and torch.equal(method.quantizer.ema_sum, codebook)
    gaps = (codebook[:, None] - z[None]).norm(dim=2).min(1).values
    assert gaps.max() < 1e-5  # every codeword is one of the z
    assert len(torch.unique(codebook, dim=0)) == 16  # 392 vectors: drawn without repeats
    method.training_step(x)
    assert torch.equal(method.quantizer.codebook, codebook)  # never again
    state = method.state_dict()
    assert state["quantizer.initialised"].item() is True
    uniform = make.method(VQVAE, codebook_size=16, code_dim=8, codebook_init="uniform")
    before = uniform.quantizer.codebook.clone()
    uniform.training_step(x)
    assert torch.equal(uniform.quantizer.codebook, before) and not uniform.quantizer.initialised


def test_image_representations(make):
    grid = make.method(VQVAE, codebook_size=16, code_dim=8)
    bag = make.method(VQVAE, codebook_size=16, code_dim=8, representation="bag")
    x = torch.rand(5, 1, 28, 28)
    for method, dim in ((grid, 8 * 7 * 7), (bag, 16 + 8)):
        method.eval()
        with torch.no_grad():
            emb = method.embed(x)
        assert emb.shape == (5, dim) and method.feat_dim == dim
    with torch.no_grad():
        hist, pooled = bag.embed(x).split([16, 8], 1)
        _, q, idx = bag.quantise(bag.encode(x))
    counts = torch.stack([code_counts(i, 16) for i in idx])
    assert torch.allclose(hist, counts / counts.norm(dim=1, keepdim=True), atol=1e-6)
    assert torch.allclose(pooled.norm(dim=1), torch.ones(5))


def test_reconstruction_pair_gives_the_reconstruction_error(make):
    method = make.method(VQVAE, codebook_size=16, code_dim=8)
    method.eval()
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        target, recon = method.reconstruction_pair(x)
        _, q, _ = method.quantise(method.encode(x))
        expected = ((method.decoder(q) - x) ** 2).mean().item()
    assert torch.equal(target, x) and recon.shape == x.shape
    assert reconstruction_error(target, recon) == pytest.approx(expected)


def test_image_previews_show_pairs_tokens_and_usage(make):
    method = make.method(VQVAE, codebook_size=16, code_dim=8)
    optimizer = torch.optim.Adam(method.parameters(), lr=1e-3)
    out = method.training_step(make.batch())
    out.loss.backward()
    optimizer.step()
    method.on_step_end(0, 1)
    method.eval()
    with torch.no_grad():
        previews = method.previews(make.batch())
    assert set(previews) == {"reconstructions", "tokens", "codebook_usage"}
    assert len(previews["reconstructions"].tiles) == 16
    assert previews["tokens"].tiles[0].shape == (28, 28, 3)
    usage = previews["codebook_usage"]
    assert usage.captions[0].endswith(f"perplexity {perplexity(method.quantizer.usage).item():.1f}")
    used = int((method.quantizer.usage > 0).sum())
    assert usage.captions[0].startswith(f"{used} of 16 codes picked in the last 1 step · ")
    assert usage.tiles[0].dtype == np.uint8 and usage.tiles[0].shape == (96, 256, 3)


def test_bad_settings_are_clear_errors(make):
    with pytest.raises(ValueError, match="codebook_update=gradient"):
        make.method(VQVAE, ortho_weight=0.1)
    backbone, feat_dim = build_backbone("mlp", (1, 28, 28))
    spec = DataSpec("toy", "image", (1, 28, 28), 10, [str(i) for i in range(10)], 64, 64)
    with pytest.raises(ValueError, match="backbone must be convolutional"):
        VQVAE(VQVAE.Config(), backbone, feat_dim, spec)
    with pytest.raises(ValueError, match="stft_window 128 is longer than the sequences"):
        make.method(VQVAE, (1, 100), spec=make.spec((1, 100), "waves", "abc"), stft_window=128)


def test_sequence_tokens_are_spectrogram_frames(make):
    method = make.method(VQVAE, (1, 256), spec=make.spec((1, 256), "waves", "abc"), codebook_size=32, code_dim=8)
    x = _waves().x
    with torch.no_grad():
        z = method.encode(x)
        _, q, idx = method.quantise(z)
        _, recon = method.reconstruction_pair(x)
    assert z.shape == q.shape == (8, 8, 17) and idx.shape == (8, 17)  # 256 / 16 + 1 frames
    assert recon.shape == method.target(x).shape == (8, 33, 17)
    method.eval()
    with torch.no_grad():
        assert method.embed(x).shape == (8, 32 + 8) == (8, method.feat_dim)  # auto: bag on sequences
    grid = make.method(VQVAE, (1, 256), spec=make.spec((1, 256), "waves", "abc"), codebook_size=32, code_dim=8, representation="grid")
    assert grid.feat_dim == 8 * 17


def test_sequence_loss_goes_down_and_previews_render(make):
    method = make.method(VQVAE, (1, 256), spec=make.spec((1, 256), "waves", "abc"), codebook_size=32, code_dim=8)
    batch = _waves(16)
    optimizer = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for step in range(15):
        out = method.training_step(batch)
        losses.append(out.logs["recon_mse"].item())
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        method.on_step_end(step, 15)
    assert losses[-1] < 0.5 * losses[0], losses
    method.eval()
    with torch.no_grad():
        previews = method.previews(batch)
    assert set(previews) == {"sequences", "codebook_usage"}
    seq = previews["sequences"]
    assert isinstance(seq, Preview) and len(seq.tiles) == 16 == len(seq.captions) and seq.columns == 4
    assert seq.captions[:4] == ["signal · a", "log |STFT|", seq.captions[2], seq.captions[3]]
    assert seq.captions[2].startswith("tokens · ") and seq.captions[3].startswith("recon · mse ")
    assert {t.shape for t in seq.tiles} == {(64, 128, 3)}
    assert seq.grid().dtype == np.uint8


def test_builds_on_a_sequence_dataset_through_the_host():
    g = torch.Generator().manual_seed(0)
    data = make_dataset("waves", torch.randn(40, 1, 128, generator=g), torch.arange(40) % 2,
                        torch.randn(10, 1, 128, generator=g), torch.arange(10) % 2, ["a", "b"],
                        modality="sequence")
    run = new_run_config("vq_vae", "waves", VQVAE.run_defaults, device="cpu")
    method = build_method(run, data)
    assert method.sequence and method.feat_dim == 512 + 64
    out = method.training_step(Batch(data.x_train[:8], data.y_train[:8], torch.arange(8)))
    assert math.isfinite(out.loss.item())
    with pytest.raises(ConfigError, match="image network"):
        build_method(new_run_config("vq_vae", "waves", backbone="resnet18", device="cpu"), data)
