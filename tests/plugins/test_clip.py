"""CLIP: captions from factors, the symmetric InfoNCE loss against a loop, the truth matrix, zero-shot."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from plugins.clip import CLIP, caption_truth, clip_loss
from workbench.captions import CaptionVocab, all_captions, caption, prompt

FACTORS = {"shape": ["circle", "square", "triangle", "cross"], "colour": ["red", "green"],
           "size": ["small", "large"], "x": ["left", "right"], "y": ["top", "bottom"],
           "rotation": ["0°", "45°"]}


def test_captions_read_as_phrases_and_name_only_what_is_kept():
    codes = {"shape": 2, "colour": 0, "size": 0, "x": 0, "y": 0, "rotation": 1}
    assert caption(FACTORS, codes) == "a small red triangle at the top left, turned 45°"
    assert caption(FACTORS, codes, keep={"colour"}) == "a red shape"
    assert prompt(FACTORS, "x", 1) == "a shape at the right"
    assert len(all_captions(FACTORS)) == 4 * 2 ** 5


def test_vocab_encodes_known_words_pads_and_flags_unknown_ones():
    vocab = CaptionVocab(FACTORS)
    ids = vocab.encode(["A red Triangle, turned 45", "a pink blob"])
    assert ids.shape == (2, vocab.max_len)
    assert [vocab.words[i] for i in ids[0] if i] == ["a", "red", "triangle", "turned", "45°"]
    assert ids[1, 1] == ids[1, 2] == 1 and ids[1, 3] == 0  # <unk>, <unk>, then padding
    assert vocab.unknown("a pink triangle") == ["pink"]


def _loop_clip_loss(img, txt, scale, pos):
    """Symmetric InfoNCE with Python loops: mean over images of −Σ_j t_ij log p(text j | image i),
    and the same over texts, averaged; t spreads evenly over the true pairs."""
    img = [[v / math.sqrt(sum(u * u for u in row)) for v in row] for row in img.tolist()]
    txt = [[v / math.sqrt(sum(u * u for u in row)) for v in row] for row in txt.tolist()]
    n = len(img)
    s = [[scale * sum(a * b for a, b in zip(img[i], txt[j])) for j in range(n)] for i in range(n)]

    def side(rows, is_true):
        total = 0.0
        for i, row in enumerate(rows):
            log_z = math.log(sum(math.exp(v) for v in row))
            true = [j for j in range(n) if is_true(i, j)]
            total += -sum(row[j] - log_z for j in true) / len(true)
        return total / n

    by_text = [[s[i][j] for i in range(n)] for j in range(n)]  # row j: text j against every image
    return (side(s, pos) + side(by_text, lambda j, i: pos(i, j))) / 2


def test_clip_loss_equals_a_loop_version_with_and_without_extra_positives():
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    expected = _loop_clip_loss(img, txt, 2.5, lambda i, j: i == j)
    assert clip_loss(img, txt, 2.5).item() == pytest.approx(expected, rel=1e-5)
    pos = torch.zeros(5, 5, dtype=torch.bool)
    pos[0, 3] = pos[2, 1] = True  # two more true pairs
    expected = _loop_clip_loss(img, txt, 2.5, lambda i, j: i == j or (i, j) in ((0, 3), (2, 1)))
    assert clip_loss(img, txt, 2.5, pos).item() == pytest.approx(expected, rel=1e-5)


def test_clip_loss_is_log_n_for_identical_embeddings_and_small_for_matched_pairs():
    same = torch.ones(4, 2)
    assert clip_loss(same, same, 10.0).item() == pytest.approx(math.log(4), rel=1e-6)
    eye = torch.eye(4)
    assert clip_loss(eye, eye, 50.0).item() < 1e-6


def test_caption_truth_marks_a_caption_true_of_every_image_that_fits_what_it_says():
    codes = {"shape": torch.tensor([0, 0, 1]), "colour": torch.tensor([0, 1, 1])}
    said = {"shape": torch.tensor([True, False, True]), "colour": torch.tensor([True, True, False])}
    # caption 0 "a red circle", caption 1 "a green shape", caption 2 "a square"
    expected = torch.tensor([[True, False, False], [False, True, False], [False, True, True]])
    assert torch.equal(caption_truth(codes, said), expected)


def _shapes_spec(make, n):
    spec = make.spec((3, 32, 32), name="toyshapes", class_names=FACTORS["shape"], train_size=n)
    spec.factors = FACTORS
    rng = np.random.default_rng(0)
    spec.train_factors = {k: rng.integers(0, len(v), n) for k, v in FACTORS.items()}
    return spec


def test_refuses_data_without_factors(make):
    with pytest.raises(ValueError, match="ground-truth factors"):
        make.method(CLIP, shape=(3, 32, 32))


@pytest.mark.slow  # 30 training steps
def test_training_matches_captions_and_zero_shot_reports_each_factor(make):
    n = 16
    spec = _shapes_spec(make, n)
    method = make.method(CLIP, shape=(3, 32, 32), spec=spec, mention=1.0)
    # images that show their colour factor plainly: red or green squares of colour
    colour = torch.tensor(spec.train_factors["colour"])
    x = torch.zeros(n, 3, 32, 32)
    x[colour == 0, 0] = 1.0
    x[colour == 1, 1] = 1.0
    batch = make.of(x)
    opt = torch.optim.SGD(method.parameters(), lr=0.05, momentum=0.9)
    first = None
    for _ in range(30):
        out = method.training_step(batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        first = first if first is not None else out.loss.item()
    assert out.loss.item() < first
    method.eval()
    with torch.no_grad():
        scores = method.zero_shot((x * 255).to(torch.uint8), spec.train_factors)
        previews = method.previews(batch)
    assert set(scores) == {f"zero_shot_{k}" for k in FACTORS} | {"zero_shot_mean"}
    assert scores["zero_shot_colour"] == 1.0  # the one factor these images show
    assert {"matches", "similarity"} <= set(previews)


def _index(make, n=12):
    """A CaptionIndex over n random images and every caption of FACTORS, on an untrained CLIP."""
    from workbench.caption_search import CaptionIndex
    from workbench.captions import all_captions
    spec = _shapes_spec(make, n)
    method = make.method(CLIP, shape=(3, 32, 32), spec=spec).eval()
    x = torch.rand(n, 3, 32, 32)
    texts = all_captions(FACTORS)
    with torch.no_grad():
        images, captions = method.encode_image(x).numpy(), method.encode_text(texts).numpy()
    pixels = (x.permute(0, 2, 3, 1) * 255).to(torch.uint8).numpy()
    return CaptionIndex(Path("run"), method, pixels, images, texts, captions, FACTORS, spec.train_factors)


def test_caption_search_ranks_images_by_similarity_and_marks_the_true_caption(make):
    index = _index(make)
    matches = index.images_for("a red circle", k=5)
    query = index.method.encode_text(["a red circle"]).detach().numpy()[0]
    expected = np.argsort(-(index.image_codes @ query), kind="stable")[:5]
    assert [m.row for m in matches] == expected.tolist()
    assert all(a.score >= b.score for a, b in zip(matches, matches[1:]))
    best = index.captions_for(3, k=len(index.captions))
    assert sum(m.true for m in best) == 1  # its own full caption, somewhere in the ranking
    assert [m.text for m in best if m.true] == [index.true_caption(3)]
    with pytest.raises(ValueError, match="type a caption"):
        index.images_for("  ")
    with pytest.raises(ValueError, match="no test image"):
        index.captions_for(99)


def test_zero_shot_is_the_methods_measures_with_the_mean_first(make):
    """One hook: the zero-shot accuracies come from Method.measures, read off the loaded test split."""
    from workbench.data.base import make_dataset
    from workbench.measures import method_measures

    n = 12
    spec = _shapes_spec(make, n)
    method = make.method(CLIP, shape=(3, 32, 32), spec=spec)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(n, dtype=torch.long)
    data = make_dataset("toyshapes", x, y, x, y, FACTORS["shape"], factors=FACTORS,
                        factors_train=spec.train_factors, factors_test=spec.train_factors)
    measures = method_measures(method, data, torch.device("cpu"))
    assert list(measures)[0] == "zero_shot_mean"
    assert set(measures) == {f"zero_shot_{k}" for k in FACTORS} | {"zero_shot_mean"}
    assert measures["zero_shot_mean"] == pytest.approx(np.mean([measures[f"zero_shot_{k}"] for k in FACTORS]), abs=1e-4)
