"""Recurrent (LSTM) language model: predict every next word from the words before it (Hochreiter & Schmidhuber 1997; Zaremba et al. 2014)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.api import Batch, DataSpec, Method, Preview, StepOutput
from workbench.config import setting
from workbench.nn.text import held_out_documents, held_out_positions, training_counts, training_text, unigram_perplexity
from workbench.wordtiles import word_tile

TILE = (28, 96)
_ACCENT = (46, 84, 150)
_GOOD, _BAD = (40, 110, 60), (120, 50, 50)
SAMPLE_SEED = 19970101


def next_word_loss(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Mean cross-entropy (nats per word) of logits (B, T, V) against targets (B, T) where mask
    (B, T) is True; 0 (with a gradient) when nothing is to be predicted."""
    nll = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction="none")
    m = mask.flatten().to(nll.dtype)
    return (nll * m).sum() / m.sum().clamp_min(1.0)


class LSTMLanguageModel(Method):
    name = "lstm_lm"
    title = "LSTM language model"
    family = "autoregressive"
    modality = "text"
    summary = ("Read the text word by word and predict the next word (an LSTM over learned word "
               "vectors); every 10th document is held out for test perplexity. The input word "
               "vectors go to the word explorer.")
    reference = "Hochreiter & Schmidhuber 1997, Neural Computation 9(8); Zaremba et al. 2014, arXiv:1409.2329"
    run_defaults = {"batch_size": 256, "lr": 3e-3, "weight_decay": 0.0, "grad_clip": 1.0,
                    "warmup_epochs": 0.0}

    @dataclass
    class Config:
        dim: int = setting(100, "Length of each input word vector (the representation).", min=2, max=1024,
                           label="Dimensions")
        hidden: int = setting(256, "LSTM state size.", min=4, max=4096)
        context: int = setting(24, "Words read before each trained word (truncated back-propagation "
                               "through time).", min=2, max=512)
        dropout: float = setting(0.2, "Dropout on the word vectors and the LSTM output.", min=0.0, max=0.9)

    def __init__(self, cfg: Config, backbone: nn.Module, feat_dim: int, data: DataSpec):
        super().__init__(cfg, backbone, feat_dim, data)
        if not data.vocab or data.corpus is None:
            raise ValueError("the LSTM language model needs a text dataset (lee or textfile)")
        v = len(data.vocab)
        self.eos = v  # one extra token: a document break (and the start of every document)
        self.feat_dim = cfg.dim
        self.embedding = nn.Embedding(v + 1, cfg.dim)
        self.lstm = nn.LSTM(cfg.dim, cfg.hidden, batch_first=True)
        self.out = nn.Linear(cfg.hidden, v + 1)
        self.drop = nn.Dropout(cfg.dropout)
        corpus = np.asarray(data.corpus, dtype=np.int64)
        test = held_out_positions(corpus)
        # the training text: breaks become EOS and the held-out documents vanish behind EOS, so
        # training never reads a test word, as input or as target
        train_text = training_text(corpus, self.eos)
        pad = np.full(cfg.context, self.eos)
        # Derived from the data, not learned: rebuilt on load, so kept out of checkpoints.
        self.register_buffer("train_text", torch.from_numpy(np.concatenate([pad, train_text])), persistent=False)
        self.register_buffer("trainable", torch.from_numpy(np.concatenate([np.zeros(cfg.context, bool), ~test])),
                             persistent=False)
        self.test_docs = held_out_documents(corpus)
        self.train_counts = training_counts(corpus, v)

    # --- training ----------------------------------------------------------------------
    def forward_logits(self, tokens: Tensor, state=None) -> tuple[Tensor, tuple]:
        h, state = self.lstm(self.drop(self.embedding(tokens)), state)
        return self.out(self.drop(h)), state

    def training_step(self, batch: Batch) -> StepOutput:
        positions = batch.x[:, 1]
        # A window per 1 / context of the rows, at random: each word is predicted about once per
        # epoch (a window for every row would read every word `context` times, for little gain).
        keep = torch.rand(len(positions), device=positions.device) < 1.0 / self.cfg.context
        keep[0] = True
        positions = positions[keep]
        # the window of context + 1 words ending at each row's word (its position in the text)
        offsets = torch.arange(self.cfg.context + 1, device=positions.device)
        idx = positions[:, None] + offsets  # train_text is shifted right by `context`
        window = self.train_text[idx]
        mask = self.trainable[idx[:, 1:]]
        logits, _ = self.forward_logits(window[:, :-1])
        loss = next_word_loss(logits, window[:, 1:], mask)
        return StepOutput(loss, {"train perplexity": loss.detach().exp()})

    def embed(self, x: Tensor) -> Tensor:
        """The input vector of each row's word (column 0): the explorer's word map."""
        return self.embedding(x[:, 0].long())

    # --- evaluation --------------------------------------------------------------------
    def doc_log_probs(self, doc: Tensor) -> Tensor:
        """log p(w_t | EOS, w_1 … w_{t−1}) of every word of one document (T,), the state carried
        through the whole document."""
        tokens = torch.cat([torch.tensor([self.eos], device=doc.device), doc[:-1]])
        logits, _ = self.forward_logits(tokens[None])
        return torch.log_softmax(logits[0].float(), -1).gather(1, doc[:, None])[:, 0]

    @torch.no_grad()
    def measures(self, batches) -> dict[str, float]:
        if not self.test_docs:
            return {}
        device = self.out.weight.device
        total, n = 0.0, 0
        for doc in self.test_docs:
            total -= float(self.doc_log_probs(torch.from_numpy(doc).to(device)).double().sum())
            n += len(doc)
        return {"test perplexity": math.exp(total / n),
                "unigram perplexity": unigram_perplexity(self.train_counts, np.concatenate(self.test_docs))}

    # --- pictures ----------------------------------------------------------------------
    def _word(self, i: int) -> str:
        return "⟨end⟩" if i == self.eos else self.data.vocab[int(i)]

    def previews(self, batch: Batch) -> dict[str, Preview]:
        return {"next_word": self._next_word_preview(), "samples": self._samples_preview()}

    def _next_word_preview(self, probes: int = 4, shown: int = 4, k: int = 3) -> Preview:
        """Probe sentences from the held-out text: the last words read, the model's top-k next
        words with their probabilities, ✓ on the true next word."""
        device = self.out.weight.device
        tiles, captions = [], []
        for doc in self.test_docs[:probes]:
            cut = min(len(doc) - 1, 8)
            prefix = torch.from_numpy(doc[:cut]).to(device)
            tokens = torch.cat([torch.tensor([self.eos], device=device), prefix])
            logits, _ = self.forward_logits(tokens[None])
            p = torch.softmax(logits[0, -1].float(), -1)
            top_p, top = p.topk(k)
            truth = int(doc[cut])
            for w in doc[max(0, cut - shown):cut].tolist():
                tiles.append(word_tile(self._word(w), *TILE))
                captions.append(self._word(w))
            for _ in range(shown - min(shown, cut)):
                tiles.append(word_tile("", *TILE))
                captions.append("(start)")
            for w, pw in zip(top.tolist(), top_p.tolist()):
                right = w == truth
                tiles.append(word_tile(self._word(w), *TILE, background=_GOOD if right else _ACCENT))
                captions.append(f"{'✓ ' if right else ''}{self._word(w)} {pw:.2f}")
            tiles.append(word_tile(self._word(truth), *TILE, background=_BAD))
            captions.append(f"true next: {self._word(truth)} (p {float(p[truth]):.3f})")
        return Preview(f"Held-out sentences: the last {shown} words, the top {k} next words, the true one",
                       tiles, captions, columns=shown + k + 1)

    def _samples_preview(self, n: int = 4, length: int = 10) -> Preview:
        """Text drawn word by word from the model, each line from the start of a document."""
        device = self.out.weight.device
        g = torch.Generator().manual_seed(SAMPLE_SEED)
        token = torch.full((n, 1), self.eos, device=device)
        state, words = None, []
        for _ in range(length):
            logits, state = self.forward_logits(token, state)
            p = torch.softmax(logits[:, -1].float(), -1).cpu()
            token = torch.multinomial(p, 1, generator=g).to(device)
            words.append(token[:, 0].tolist())
        tiles, captions = [], []
        for i in range(n):
            for t in range(length):
                w = words[t][i]
                tiles.append(word_tile(self._word(w), *TILE))
                captions.append(f"line {i + 1} · {self._word(w)}")
        return Preview("Sampled text, word by word from the start of a document", tiles, captions, columns=length)
