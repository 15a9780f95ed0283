"""Context encoder: masks, the hole-only L2 loss, and one-backward adversarial training."""
from __future__ import annotations

import pytest
import torch

from plugins.context_encoder import (FILL, ContextEncoder, Discriminator, discriminator_losses, make_masks,
                                     masked_l2)


def test_central_mask_is_the_centred_square():
    m = make_masks(torch.rand(3, 1, 28, 28), "central", 0.25)
    assert m.shape == (3, 1, 28, 28) and m.dtype == torch.bool
    assert m.flatten(1).sum(1).tolist() == [196] * 3  # 14 × 14
    assert m[0, 0, 7:21, 7:21].all() and not m[0, 0, :7].any() and not m[0, 0, :, 21:].any()


def test_block_masks_stay_inside_and_vary_per_sample():
    m = make_masks(torch.rand(64, 3, 32, 32), "blocks", 0.25, torch.Generator().manual_seed(0))
    area = m.flatten(1).float().mean(1)
    assert (area > 0).all() and (area <= 0.25 + 1e-6).all()
    assert area.max() > 0.2  # non-overlapping blocks reach the full area
    assert not torch.equal(m[0], m[1])


def test_irregular_masks_hide_exactly_the_area():
    m = make_masks(torch.rand(5, 1, 28, 28), "irregular", 0.3, torch.Generator().manual_seed(1))
    assert m.flatten(1).sum(1).tolist() == [round(0.3 * 784)] * 5
    assert not torch.equal(m[0], m[1])


def test_unknown_mask_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown mask"):
        make_masks(torch.rand(1, 1, 8, 8), "stripes", 0.2)


def test_masked_l2_ignores_the_context():
    x = torch.rand(2, 3, 8, 8)
    m = make_masks(x, "central", 0.25)
    x_hat = torch.where(m, x, 1 - x)  # right in the hole, wrong everywhere else
    assert masked_l2(x_hat, x, m).item() == 0.0
    off = torch.where(m, x + 0.5, x)
    assert masked_l2(off, x, m).item() == pytest.approx(0.25)


def test_masked_l2_goes_down_on_learnable_inputs():
    x = torch.rand(2, 1, 8, 8)
    m = make_masks(x, "central", 0.25)
    guess = torch.zeros_like(x, requires_grad=True)
    opt = torch.optim.Adam([guess], lr=0.1)
    losses = []
    for _ in range(30):
        loss = masked_l2(guess, x, m)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.2 * losses[0]


def test_masked_input_is_grey_in_the_hole(make):
    method = make.method(ContextEncoder, mask="central")
    x = torch.rand(2, 1, 28, 28)
    m = make_masks(x, "central", 0.25)
    masked, pred, filled = method.inpaint(x, m)
    assert (masked[m] == FILL).all() and torch.equal(masked[~m], x[~m])
    assert torch.equal(filled[~m], x[~m]) and torch.equal(filled[m], pred[m])


def test_no_discriminator_unless_asked(make):
    assert make.method(ContextEncoder).discriminator is None
    assert isinstance(make.method(ContextEncoder, adv_weight=0.001).discriminator, Discriminator)


def test_discriminator_losses_route_gradients_to_their_own_player():
    torch.manual_seed(0)
    disc = Discriminator(1, width=4)
    real = torch.rand(4, 1, 16, 16)
    gen_param = torch.zeros(1, 1, 16, 16, requires_grad=True)
    fake = torch.sigmoid(gen_param).expand(4, -1, -1, -1)
    adv, d_loss = discriminator_losses(disc, real, fake)
    # the generator's term reaches the generator and not the discriminator
    g_adv = torch.autograd.grad(adv, [gen_param] + list(disc.parameters()), allow_unused=True)
    assert g_adv[0] is not None and g_adv[0].abs().sum() > 0
    assert all(g is None for g in g_adv[1:])
    # the discriminator's term reaches the discriminator and not the generator
    adv, d_loss = discriminator_losses(disc, real, fake)
    g_d = torch.autograd.grad(d_loss, [gen_param] + list(disc.parameters()), allow_unused=True)
    assert g_d[0] is None
    assert all(g is not None and g.abs().sum() > 0 for g in g_d[1:])


def test_adversarial_step_trains_both_players_with_one_backward(make):
    method = make.method(ContextEncoder, adv_weight=0.5, rec_weight=1.0)
    batch = make.batch()
    torch.manual_seed(3)
    out = method.training_step(batch)
    assert {"hole_mse", "adversarial", "discriminator"} <= set(out.logs)
    # the generator's loss includes the adversarial term (and the discriminator's own loss)
    expected = (out.logs["hole_mse"] + 0.5 * out.logs["adversarial"] + out.logs["discriminator"]
                + out.logs["hole_mse_l2_only"])
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    out.loss.backward()
    d_grads = [p.grad for p in method.discriminator.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in d_grads)

    # the discriminator's gradient is that of its own loss only: the generator's adversarial
    # term does not leak into it, whatever its weight
    plain = make.method(ContextEncoder, adv_weight=5.0, rec_weight=1.0)
    torch.manual_seed(3)
    plain.training_step(batch).loss.backward()
    for a, b in zip(method.discriminator.parameters(), plain.discriminator.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6)
    # ...while the generator's gradient does change with λ_adv
    dec_a = torch.cat([p.grad.flatten() for p in method.decoder.parameters()])
    dec_b = torch.cat([p.grad.flatten() for p in plain.decoder.parameters()])
    assert not torch.allclose(dec_a, dec_b)


def test_adversarial_weight_zero_is_the_plain_l2_loss_exactly(make):
    method = make.method(ContextEncoder, adv_weight=0.0, rec_weight=0.7, mask="blocks")
    batch = make.batch()
    torch.manual_seed(5)
    out = method.training_step(batch)
    torch.manual_seed(5)  # the same holes, by hand: λ_rec · hole-only L2 and nothing else
    mask = make_masks(batch.x, "blocks", 0.25)
    _, pred, _ = method.inpaint(batch.x, mask)
    assert torch.equal(out.loss, 0.7 * masked_l2(pred, batch.x, mask))
    assert set(out.logs) == {"hole_mse"}
    assert not any(k.startswith(("discriminator.", "l2_decoder.")) for k in method.state_dict())


def test_adversarial_preview_sets_the_l2_only_fill_beside_the_adversarial_one(make):
    method = make.method(ContextEncoder, adv_weight=0.001, rec_weight=0.999).eval()
    with torch.no_grad():
        preview = method.previews(make.batch())["inpainting"]
    assert len(preview.tiles) == 4 * 8
    assert preview.captions[8].startswith("L2 only") and preview.captions[16].startswith("L2 + adversarial")
    # the L2-only decoder learns from detached features: changing it leaves the encoder's gradient as is
    batch, grads = make.batch(), []
    for shift in (0.0, 0.5):
        m = make.method(ContextEncoder, adv_weight=0.001, rec_weight=0.999)
        with torch.no_grad():
            for p in m.l2_decoder.parameters():
                p.add_(shift)
        torch.manual_seed(2)
        m.training_step(batch).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.backbone.parameters()]))
        assert all(p.grad is not None for p in m.l2_decoder.parameters())
    assert torch.allclose(grads[0], grads[1], atol=1e-7)


def test_both_weights_zero_is_refused(make):
    with pytest.raises(ValueError, match="rec_weight and adv_weight"):
        make.method(ContextEncoder, rec_weight=0.0, adv_weight=0.0)


@pytest.mark.parametrize("mask", ["central", "blocks", "irregular"])
def test_method_on_colour_images(mask, make):
    method = make.method(ContextEncoder, shape=(3, 32, 32), mask=mask)
    batch = make.batch(4, (3, 32, 32))
    out = method.training_step(batch)
    out.loss.backward()
    method.eval()
    with torch.no_grad():
        assert method.embed(batch.x).shape == (4, method.feat_dim)
        p = method.previews(batch)["inpainting"]
    assert len(p.tiles) == 12 == len(p.captions) and p.columns == 4
    assert p.captions[4].startswith("filled · hole mse")
