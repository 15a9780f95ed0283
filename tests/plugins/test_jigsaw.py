"""Jigsaw: the permutation set, the tile geometry, the shuffling and the loss."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from plugins.jigsaw import Jigsaw, assemble, jigsaw_loss, normalise_tiles, permutation_set
from workbench.api import Batch
from workbench.nn.patches import crop_patches, drop_channels, grid_cells


def _min_distance(perms: np.ndarray) -> int:
    d = (perms[:, None, :] != perms[None, :, :]).sum(-1)
    np.fill_diagonal(d, perms.shape[1] + 1)
    return int(d.min())


@pytest.mark.parametrize("n, at_least", [(30, 7), (100, 6)])
def test_permutation_set_is_far_apart(n, at_least):
    perms = permutation_set(n)
    assert perms.shape == (n, 9) and perms.dtype == np.int64
    assert all(sorted(p) == list(range(9)) for p in perms.tolist())  # real permutations
    assert len({tuple(p) for p in perms.tolist()}) == n  # no repeats
    assert _min_distance(perms) >= at_least
    rng = np.random.default_rng(0)  # a random set of the same size is much closer
    random = np.array([rng.permutation(9) for _ in range(n)])
    assert _min_distance(random) < at_least


def test_permutation_set_is_deterministic():
    a, b = permutation_set(30), permutation_set(30)
    assert np.array_equal(a, b)
    a[0, 0] = 99  # callers get a copy, never the cached array
    assert permutation_set(30)[0, 0] != 99
    assert not np.array_equal(permutation_set(30, seed=1), b)
    # farthest-point greedy: a smaller set is a prefix of a larger one from the same seed
    assert np.array_equal(permutation_set(10), permutation_set(30)[:10])


def test_permutation_set_rejects_bad_sizes():
    with pytest.raises(ValueError, match="permutations"):
        permutation_set(0)
    with pytest.raises(ValueError, match="permutations"):
        permutation_set(7, tiles=3)  # only 3! = 6 exist


@pytest.mark.parametrize("classes", [30, 100])
def test_jigsaw_loss_uniform_logits_is_log_p(classes):
    target = torch.arange(8) % classes
    assert jigsaw_loss(torch.zeros(8, classes), target).item() == pytest.approx(math.log(classes))


def test_jigsaw_loss_goes_down_on_learnable_logits():
    logits = torch.zeros(16, 30, requires_grad=True)
    target = torch.arange(16) % 30
    opt = torch.optim.Adam([logits], lr=0.1)
    losses = []
    for _ in range(20):
        loss = jigsaw_loss(logits, target)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.5 * losses[0]


def test_crop_patches_matches_slicing_on_pixel_aligned_boxes():
    x = torch.rand(2, 3, 16, 20)
    x0 = torch.tensor([[4.0, 0.0], [12.0, 2.0]])
    y0 = torch.tensor([[8.0, 0.0], [0.0, 6.0]])
    out = crop_patches(x, x0, y0, 8, 8)
    assert out.shape == (2, 2, 3, 8, 8)
    for b in range(2):
        for n in range(2):
            i, j = int(y0[b, n]), int(x0[b, n])
            assert torch.allclose(out[b, n], x[b, :, i:i + 8, j:j + 8], atol=1e-6)


def test_grid_cells_keep_tiles_inside_their_cells():
    x = torch.zeros(5, 1, 30, 30)
    x0, y0, side = grid_cells(x, gap=0.2, jitter=True)
    assert x0.shape == (5, 9) and side == pytest.approx(8.0)
    col = torch.arange(9) % 3
    row = torch.arange(9) // 3
    assert (x0 >= col * 10 - 1e-5).all() and (x0 + side <= col * 10 + 10 + 1e-5).all()
    assert (y0 >= row * 10 - 1e-5).all() and (y0 + side <= row * 10 + 10 + 1e-5).all()
    c0, r0, _ = grid_cells(x, gap=0.2, jitter=False)  # no jitter: centred, 2-px gutters
    assert torch.allclose(c0[0], col * 10 + 1.0) and torch.allclose(r0[0], row * 10 + 1.0)


def test_shuffle_puts_tile_perm_j_at_position_j(make):
    m = make.method(Jigsaw)
    tiles = torch.arange(9.0).view(1, 9, 1, 1, 1).expand(4, 9, 1, 2, 2)  # tile k is filled with k
    index = torch.tensor([0, 5, 17, 29])
    shuffled = m.shuffle(tiles, index)
    assert torch.equal(shuffled[:, :, 0, 0, 0].long(), m.perms[index])


def test_tiles_come_in_row_major_order(make):
    m = make.method(Jigsaw, gap=0.2, jitter=False)
    x = (torch.arange(9.0) / 10).view(1, 1, 3, 3)  # cell k of a 30-px image has value k/10
    x = x.repeat_interleave(10, 2).repeat_interleave(10, 3)
    m.eval()
    tiles = m.tiles(x)
    assert tiles.shape == (1, 9, 1, 16, 16)
    assert torch.allclose(tiles.mean(dim=(2, 3, 4)), torch.arange(9.0) / 10, atol=1e-6)


def test_outputs_and_preview_shapes(make):
    m = make.method(Jigsaw)
    x = torch.rand(6, 1, 28, 28)
    index = torch.arange(6)
    assert m.classify(m.shuffle(m.tiles(x), index)).shape == (6, 30)
    assert assemble(m.tiles(x)).shape == (6, 1, 52, 52)  # 3 × 16 px tiles + two 2-px gutters
    m.eval()
    with torch.no_grad():
        preview = m.previews(Batch(x, torch.zeros(6, dtype=torch.long), torch.arange(6)))["puzzles"]
    assert len(preview.tiles) == 12  # each puzzle, then its tiles in the predicted order
    assert preview.captions[0] == "shuffled" and preview.captions[1].startswith(("✓", "✗"))
    assert not any("perm" in c for c in preview.captions)  # pictures, not permutation numbers


def test_preview_puts_tiles_back_in_the_predicted_order(make, monkeypatch):
    from plugins.jigsaw import normalise_display
    from workbench.api import Preview
    m = make.method(Jigsaw)
    m.eval()
    x = torch.rand(4, 1, 28, 28)
    truth = torch.arange(4) * 7 % 30
    with torch.no_grad():
        torch.manual_seed(0)
        whole = Preview.from_tensor("", assemble(normalise_display(m.tiles(x)))).tiles
        for guess, right in ((truth, True), ((truth + 1) % 30, False)):
            monkeypatch.setattr(m, "classify", lambda _s, g=guess: torch.nn.functional.one_hot(g, 30).float())
            torch.manual_seed(0)  # the same tile jitter as the whole picture above
            preview = m.previews(Batch(x, torch.zeros(4, dtype=torch.long), torch.arange(4)))["puzzles"]
            answers = preview.tiles[1::2]
            # a right guess rebuilds each picture exactly; a wrong one does not, and says how many tiles fit
            assert all(np.array_equal(a, w) for a, w in zip(answers, whole)) is right
            assert preview.captions[1].startswith("✓ put back right" if right else "✗")
            assert right or "tiles in place" in preview.captions[1]


def test_colour_images_and_channel_drop(make):
    tiles = torch.rand(4, 9, 3, 8, 8)
    dropped = drop_channels(tiles, p=1.0)
    # one channel kept as it was, the other two nearly flat (mean + faint noise)
    same = (dropped == tiles).flatten(3).all(-1)  # (4, 9, 3)
    assert (same.sum(-1) == 1).all()
    flat = dropped.flatten(3).std(-1)[~same]
    assert (flat < 0.01).all()
    grey = torch.rand(2, 9, 1, 8, 8)
    assert torch.equal(drop_channels(grey, 1.0), grey)
    m = make.method(Jigsaw, shape=(3, 32, 32), tile_norm=True)
    out = m.training_step(Batch(torch.rand(4, 3, 32, 32), torch.zeros(4, dtype=torch.long),
                                torch.arange(4)))
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)


def test_normalise_tiles():
    tiles = torch.rand(3, 9, 1, 8, 8) * 0.3 + 0.1
    norm = normalise_tiles(tiles, eps=0.0)
    assert torch.allclose(norm.mean(dim=(-3, -2, -1)), torch.full((3, 9), 0.5), atol=1e-5)
    assert torch.allclose(norm.std(dim=(-3, -2, -1)), torch.full((3, 9), 0.25), atol=1e-5)
