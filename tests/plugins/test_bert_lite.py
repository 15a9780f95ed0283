"""BERT-lite: the 80/10/10 masking split on a large seeded draw, the loss by hand, held-out text never read in
training, measures and the masked-sentence preview."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from plugins.bert_lite import BertLite, eval_passes, mask_tokens, masked_lm_loss, windows_per_row
from workbench.api import Batch, DataSpec
from workbench.nn.text import held_out_positions


def test_masking_chooses_15_percent_and_splits_them_80_10_10():
    vocab, mask_id = 1000, 1000
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, vocab, (400, 500), generator=g)
    maskable = torch.ones_like(tokens, dtype=torch.bool)
    maskable[:, :100] = False  # never chosen, whatever the draw
    inputs, chosen = mask_tokens(tokens, maskable, mask_id, vocab, generator=g)
    n = int(maskable.sum())  # 160,000 maskable tokens: each share below is within ±0.5 % of its value
    assert not chosen[:, :100].any() and torch.equal(inputs[:, :100], tokens[:, :100])
    assert int(chosen.sum()) / n == pytest.approx(0.15, abs=0.003)
    c = int(chosen.sum())
    as_mask = int((inputs[chosen] == mask_id).sum()) / c
    unchanged = int((inputs[chosen] == tokens[chosen]).sum()) / c
    random_word = 1 - as_mask - unchanged
    assert as_mask == pytest.approx(0.8, abs=0.01)
    # a random word is the original one time in 1000, so "unchanged" gains 0.1 / 1000
    assert unchanged == pytest.approx(0.1, abs=0.006) and random_word == pytest.approx(0.1, abs=0.006)
    assert torch.equal(inputs[~chosen], tokens[~chosen])  # only chosen tokens are touched
    assert int(inputs[chosen & (inputs != mask_id)].max()) < vocab  # random words are real words


def test_masking_repeats_with_the_same_seed():
    tokens = torch.arange(200).remainder(50)
    first = mask_tokens(tokens, tokens >= 0, 50, 50, generator=torch.Generator().manual_seed(3))
    second = mask_tokens(tokens, tokens >= 0, 50, 50, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_masked_lm_loss_by_hand():
    # three chosen positions, four words: uniform scores cost ln 4; a sure right guess ~0;
    # scores (2, 0, 0, 0) with the truth at word 1 cost −log(1 / (e² + 3))
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 60.0, 0.0], [2.0, 0.0, 0.0, 0.0]])
    targets = torch.tensor([3, 2, 1])
    expected = (math.log(4) + 0.0 + math.log(math.exp(2) + 3)) / 3
    assert masked_lm_loss(logits, targets).item() == pytest.approx(expected, rel=1e-6)


def test_masked_lm_loss_equals_a_loop_and_is_zero_with_a_gradient_when_nothing_is_chosen():
    g = torch.Generator().manual_seed(1)
    logits, targets = torch.randn(7, 11, generator=g), torch.randint(0, 11, (7,), generator=g)
    loop = sum(-math.log(math.exp(logits[i, targets[i]]) / sum(math.exp(v) for v in logits[i].tolist()))
               for i in range(7)) / 7
    assert masked_lm_loss(logits, targets).item() == pytest.approx(loop, rel=1e-5)
    none = masked_lm_loss(torch.zeros(0, 11, requires_grad=True), torch.zeros(0, dtype=torch.long))
    assert none.item() == 0.0 and none.requires_grad


def test_every_held_out_word_is_masked_in_exactly_one_pass():
    passes = eval_passes(10_000)
    assert passes.min() == 0 and passes.max() == 6  # round(1 / 0.15) = 7 passes
    assert np.bincount(passes) / 10_000 == pytest.approx(np.full(7, 1 / 7), abs=0.015)
    assert np.array_equal(passes, eval_passes(10_000))  # the same words every evaluation


def _spec(corpus) -> DataSpec:
    vocab = [f"w{i}" for i in range(int(corpus.max()) + 1)]
    spec = DataSpec("toy", "text", (2,), 0, [], int((corpus >= 0).sum()), len(vocab))
    spec.vocab, spec.word_counts, spec.corpus = vocab, [1] * len(vocab), corpus.astype(np.int32)
    return spec


def _model(corpus, **cfg) -> BertLite:
    torch.manual_seed(0)
    settings = dict(dim=8, layers=1, heads=2, context=6, dropout=0.0) | cfg
    return BertLite(BertLite.Config(**settings), None, 0, _spec(corpus))


def _corpus(docs: int = 20, length: int = 15, vocab: int = 20) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([np.concatenate([rng.integers(0, vocab, length), [-1]]) for _ in range(docs)])[:-1]


def test_training_never_reads_a_held_out_word():
    corpus = _corpus()
    model = _model(corpus)
    test = held_out_positions(corpus)
    text = model.train_text[6:-6].numpy()  # padded by a window on both sides
    assert (text[test] == model.sep).all() and (text[corpus < 0] == model.sep).all()
    assert (text[~test & (corpus >= 0)] == corpus[~test & (corpus >= 0)]).all()
    assert [len(d) for d in model.test_docs] == [15, 15]  # documents 9 and 19
    positions = np.flatnonzero(corpus >= 0)
    x = torch.from_numpy(np.stack([corpus[positions], positions], 1)).long()
    out = model.training_step(Batch(x, torch.full((len(x),), -1), torch.arange(len(x))))
    assert torch.isfinite(out.loss) and out.loss.requires_grad
    assert model.embed(torch.tensor([[3, -1]])).shape == (1, 8)


def test_training_windows_sit_around_each_rows_word():
    corpus = np.arange(40) % 20  # one document: every window is plain text
    model = _model(corpus, context=6, coverage=6.0, mask_rate=0.15)  # every row keeps its window
    captured = []
    model.hidden = lambda tokens: captured.append(tokens) or torch.zeros(*tokens.shape, 8)
    x = torch.tensor([[corpus[10], 10], [corpus[0], 0]])
    torch.manual_seed(0)
    model.training_step(Batch(x, torch.full((2,), -1), torch.arange(2)))
    window = captured[0]
    # unmasked positions show the text: corpus[7:13] around position 10, padding then corpus[0:3] around 0
    expected = torch.tensor([[7, 8, 9, 10, 11, 12], [model.sep] * 3 + [0, 1, 2]])
    same = window == expected
    assert same.float().mean() > 0.7  # ~15 % of the words are corrupted
    assert ((window == expected) | (window == model.mask_id) | (window < 20)).all()


@pytest.mark.parametrize("coverage", [3.0, 8.0, 20.0])
def test_each_word_is_read_coverage_times_per_epoch_also_above_the_window(coverage):
    # coverage was a probability of keeping a row's window, so anything at or above the window
    # (8) read each word 8 times; now it reads each word `coverage` times per epoch on average
    corpus = np.arange(2000) % 20  # one document: every window is plain text
    model = _model(corpus, context=8, coverage=coverage)
    captured = []
    model.hidden = lambda tokens: captured.append(tokens) or torch.zeros(*tokens.shape, 8)
    rows = torch.arange(len(corpus))
    torch.manual_seed(0)
    model.training_step(Batch(torch.stack([torch.from_numpy(corpus)[rows], rows], 1), torch.full((len(rows),), -1),
                              torch.arange(len(rows))))
    words_read = captured[0].numel()  # an epoch: every row once
    assert words_read / len(corpus) == pytest.approx(coverage, rel=0.05)


def test_windows_per_row_has_the_asked_mean_and_never_none():
    torch.manual_seed(0)
    counts = windows_per_row(20_000, 2.5)
    assert set(counts.unique().tolist()) == {2, 3} and counts.float().mean().item() == pytest.approx(2.5, abs=0.02)
    assert windows_per_row(5, 1e-9).sum().item() == 1  # a step always has a window


@pytest.mark.parametrize("rate", [0.15, 0.6])
def test_mask_rate_sets_the_share_of_training_words_to_predict(rate):
    corpus = np.arange(400) % 20  # one document: every window is plain text
    model = _model(corpus, context=6, coverage=6.0, mask_rate=rate)  # every row keeps its window
    captured = []
    model.hidden = lambda tokens: captured.append(tokens) or torch.zeros(*tokens.shape, 8)
    rows = torch.arange(20, 380)
    torch.manual_seed(0)
    model.training_step(Batch(torch.stack([torch.from_numpy(corpus)[rows], rows], 1), torch.full((360,), -1),
                              torch.arange(360)))
    hidden = (captured[0] == model.mask_id).float().mean().item()
    assert hidden == pytest.approx(0.8 * rate, abs=0.03)  # 80 % of the chosen words become [MASK]


def test_evaluation_sees_the_same_model_as_training():
    # torch's inference fast path (eval mode under no_grad) must compute what training did: with a
    # per-head attention mask it did not (a hidden word's state ignored its neighbours)
    corpus = _corpus()
    model = _model(corpus, dim=8, heads=2, context=12)
    tokens = torch.randint(0, 20, (3, 12), generator=torch.Generator().manual_seed(0))
    tokens[:, 5] = model.mask_id
    neighbour = tokens.clone()
    neighbour[:, 6] = (neighbour[:, 6] + 1) % 20
    trained = model.train().hidden(tokens).detach()  # dropout 0: training mode is deterministic
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model.hidden(tokens), trained, atol=1e-5)
        assert not torch.allclose(model.hidden(tokens)[:, 5], model.hidden(neighbour)[:, 5])


def test_measures_against_their_floors():
    corpus = _corpus()
    model = _model(corpus).eval()
    measures = model.measures(None)
    assert list(measures)[:2] == ["masked-word perplexity", "unigram perplexity"]  # headline, its floor
    test_words = np.concatenate(model.test_docs)
    top = int(np.argmax(model.train_counts))
    assert measures["most-frequent-word accuracy"] == pytest.approx(float(np.mean(test_words == top)))
    assert 0.0 <= measures["masked-word accuracy"] <= 1.0
    # an untrained model scores about uniformly over its 20 words
    assert measures["masked-word perplexity"] == pytest.approx(20, rel=0.3)
    assert measures["unigram perplexity"] < 25
    assert model.measures(None) == measures  # the same words hidden each time


@pytest.mark.slow  # 60 training steps
def test_a_model_that_learnt_the_text_beats_the_floor():
    # one sentence repeated: "w0 w1 w2 … w9" — every hidden word follows from its neighbours
    corpus = np.concatenate([np.concatenate([np.arange(10), [-1]]) for _ in range(30)])[:-1]
    model = _model(corpus, dim=16, context=10, coverage=10.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    positions = np.flatnonzero((corpus >= 0) & ~held_out_positions(corpus))
    x = torch.from_numpy(np.stack([corpus[positions], positions], 1)).long()
    torch.manual_seed(0)
    for _ in range(60):
        loss = model.training_step(Batch(x, torch.full((len(x),), -1), torch.arange(len(x)))).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    measures = model.eval().measures(None)
    assert measures["masked-word accuracy"] > 0.8 > measures["most-frequent-word accuracy"]
    assert measures["masked-word perplexity"] < measures["unigram perplexity"]


def test_preview_shows_hidden_words_and_three_guesses_below_each():
    corpus = _corpus(length=12)
    model = _model(corpus, context=10).eval()
    with torch.no_grad():
        preview = model.previews(None)["masked"]
    assert preview.columns == 8 and len(preview.tiles) == len(preview.captions) == 2 * 4 * 8  # two sentences
    first = preview.captions[:8]
    hidden = [i for i, c in enumerate(first) if c.startswith("hidden: ")]
    assert len(hidden) == 2
    for rank in range(3):
        row = preview.captions[8 * (rank + 1): 8 * (rank + 2)]
        assert all(f"guess {rank + 1}: " in row[i] for i in hidden)
        assert all(row[i] == "·" for i in range(8) if i not in hidden)
    assert len(_model(corpus, context=5).eval().previews(None)["masked"].tiles) == 2 * 4 * 5  # no wider than a window
    probs = [float(preview.captions[8 * (r + 1) + hidden[0]].rsplit(" ", 1)[1]) for r in range(3)]
    assert probs == sorted(probs, reverse=True)  # best guess first


def test_refuses_non_text_data_and_bad_heads():
    with pytest.raises(ValueError, match="text dataset"):
        BertLite(BertLite.Config(), None, 0, DataSpec("toy", "image", (1, 8, 8), 10, [], 10, 10))
    with pytest.raises(ValueError, match="multiple of heads"):
        _model(_corpus(), dim=10, heads=4)
