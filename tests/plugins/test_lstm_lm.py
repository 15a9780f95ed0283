"""LSTM language model: loss and unigram floor on hand cases, held-out documents never read in training."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from plugins.lstm_lm import LSTMLanguageModel, next_word_loss
from workbench.api import Batch, DataSpec
from workbench.nn.text import held_out_positions, unigram_perplexity


def test_next_word_loss_by_hand():
    # two positions, three words: uniform logits cost ln 3; a sure right guess costs ~0
    logits = torch.tensor([[[0.0, 0.0, 0.0], [50.0, 0.0, 0.0]]])
    targets = torch.tensor([[2, 0]])
    assert next_word_loss(logits, targets, torch.tensor([[True, True]])).item() == pytest.approx(math.log(3) / 2)
    assert next_word_loss(logits, targets, torch.tensor([[True, False]])).item() == pytest.approx(math.log(3))
    none = next_word_loss(logits.requires_grad_(True), targets, torch.tensor([[False, False]]))
    assert none.item() == 0.0 and none.requires_grad


def test_unigram_perplexity_by_hand():
    # counts 3 and 1, add-one: p = 4/6 and 2/6; test words [0, 1]
    expected = math.exp(-(math.log(4 / 6) + math.log(2 / 6)) / 2)
    assert unigram_perplexity(np.array([3, 1]), np.array([0, 1])) == pytest.approx(expected)


def test_every_tenth_document_is_held_out():
    corpus = np.array([0, 1, -1] * 10 + [2, 3])  # documents 0..10, two words each
    test = held_out_positions(corpus)
    assert np.flatnonzero(test).tolist() == [26, 27, 28]  # document 9: its break and two words


def _spec(corpus) -> DataSpec:
    vocab = [f"w{i}" for i in range(int(corpus.max()) + 1)]
    spec = DataSpec("toy", "text", (2,), 0, [], int((corpus >= 0).sum()), len(vocab))
    spec.vocab, spec.word_counts, spec.corpus = vocab, [1] * len(vocab), corpus.astype(np.int32)
    return spec


def test_training_never_reads_a_held_out_word():
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 20, 15) for _ in range(20)]
    corpus = np.concatenate([np.concatenate([d, [-1]]) for d in docs])[:-1]
    torch.manual_seed(0)
    model = LSTMLanguageModel(LSTMLanguageModel.Config(dim=4, hidden=8, context=5), None, 0, _spec(corpus))
    test = held_out_positions(corpus)
    text = model.train_text[5:].numpy()
    assert (text[test] == model.eos).all() and (text[~test & (corpus >= 0)] == corpus[~test & (corpus >= 0)]).all()
    assert [len(d) for d in model.test_docs] == [15, 15]  # documents 9 and 19
    positions = np.flatnonzero(corpus >= 0)
    x = torch.from_numpy(np.stack([corpus[positions], positions], 1)).long()
    out = model.training_step(Batch(x, torch.full((len(x),), -1), torch.arange(len(x))))
    assert torch.isfinite(out.loss) and out.loss.requires_grad
    measures = model.eval().measures(None)
    # an untrained model is near uniform over 21 tokens; add-one unigram of random words is ~20
    assert measures["test perplexity"] == pytest.approx(21, rel=0.2)
    assert measures["unigram perplexity"] < 25
    assert model.embed(torch.tensor([[3, -1]])).shape == (1, 4)
