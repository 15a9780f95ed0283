"""BERT-lite: a small bidirectional Transformer that recovers masked words from the words on both sides (Devlin et al. 2019)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.api import Batch, DataSpec, Method, Preview, StepOutput
from workbench.config import setting
from workbench.nn.text import held_out_documents, training_counts, training_text, unigram_perplexity
from workbench.wordtiles import word_tile

MASK_RATE = 0.15  # BERT's share of the words to predict (and the share the evaluation hides)
# Training hides more on a text as small as lee: more predicted words per step, and a lower
# perplexity at the same 15 % evaluation (6 epochs: 279 at 0.25 against 313 at 0.15, BENCHMARKS)
TRAIN_MASK_RATE = 0.25
MASK_SPLIT = (0.8, 0.1)  # of those: replaced by [MASK], by a random word; the rest stay as they are
EVAL_WINDOWS = 256  # windows per forward pass when measuring (bounded memory on a long text)
EVAL_SEED = 20190601  # the held-out words' masking: the same for every evaluation and for the floor
PREVIEW_SEED = 15
TILE = (28, 96)
_MASKED, _GOOD, _GUESS = (120, 50, 50), (40, 110, 60), (46, 84, 150)


def mask_tokens(tokens: Tensor, maskable: Tensor, mask_id: int, vocab_size: int, rate: float = MASK_RATE,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """BERT's corruption: each maskable token is chosen with probability `rate`; a chosen token
    becomes `mask_id` 80 % of the time, a word drawn uniformly from the vocabulary 10 %, and stays
    itself 10 %. Returns (the corrupted tokens, the chosen positions: what the model must predict).
    `generator` (on the tokens' device) makes the draw repeatable."""
    chosen = (torch.rand(tokens.shape, generator=generator, device=tokens.device) < rate) & maskable
    how = torch.rand(tokens.shape, generator=generator, device=tokens.device)
    random_words = torch.randint(0, vocab_size, tokens.shape, generator=generator, device=tokens.device)
    to_mask = chosen & (how < MASK_SPLIT[0])
    to_random = chosen & (how >= MASK_SPLIT[0]) & (how < MASK_SPLIT[0] + MASK_SPLIT[1])
    out = torch.where(to_mask, torch.full_like(tokens, mask_id), tokens)
    return torch.where(to_random, random_words, out), chosen


def masked_lm_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy (nats per word) of the logits (N, V) at the N chosen positions against
    their true words (N,); 0 (with a gradient) when no position was chosen."""
    if len(targets) == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), targets)


def eval_passes(n: int, rate: float = MASK_RATE, seed: int = EVAL_SEED) -> np.ndarray:
    """For n held-out words, the pass (0 … round(1/rate) − 1) in which each is masked: every word
    is predicted exactly once, and each pass hides about `rate` of the words, as in training."""
    passes = max(1, round(1 / rate))
    return np.random.default_rng(seed).integers(0, passes, n)


def windows_per_row(rows: int, rate: float, device: torch.device | str = "cpu") -> Tensor:
    """How many windows each of `rows` rows gets: floor(rate), plus one more with probability
    rate − floor(rate), so the mean is `rate` for any rate (also above 1); at least one window in all."""
    whole = math.floor(rate)
    counts = whole + (torch.rand(rows, device=device) < rate - whole).long()
    if rows and not counts.any():
        counts[0] = 1  # a step with no window would have nothing to learn from
    return counts


class BertLite(Method):
    name = "bert_lite"
    title = "BERT-lite (masked language model)"
    family = "masked-modelling"
    modality = "text"
    summary = ("Hide some of the words (25 % in training, BERT's 15 % when measured; 80 % as [MASK], "
               "10 % as a random word, 10 % unchanged) and predict them from the words on both sides "
               "with a small Transformer; every 10th "
               "document is held out for masked-word accuracy. The input word vectors go to the "
               "word explorer.")
    reference = "Devlin et al. 2019, NAACL-HLT, arXiv:1810.04805"
    # On a corpus as small as lee the Transformer first learns the word frequencies and only then
    # the context: without weight decay or dropout and at lr 1e-3, with an 8-word window and 25 %
    # of the training words hidden, what moves it past the floors is the number of steps and of
    # windows read: batches of 128 rows with 3 windows each (coverage 24) pass both floors in one
    # epoch and reach perplexity 257 and accuracy 15 % in two, in ~80 s of one thread's CPU
    # (docs/BENCHMARKS.md, "BERT-lite's defaults, retuned").
    run_defaults = {"batch_size": 128, "lr": 1e-3, "weight_decay": 0.0, "grad_clip": 1.0,
                    "warmup_epochs": 0.1, "epochs": 2}

    @dataclass
    class Config:
        dim: int = setting(64, "Length of each word vector (the representation) and of the Transformer's "
                           "states.", min=8, max=1024, label="Dimensions")
        layers: int = setting(2, "Transformer encoder layers.", min=1, max=12)
        heads: int = setting(4, "Attention heads per layer (must divide Dimensions).", min=1, max=16)
        context: int = setting(8, "Words the model reads at once (its window).", min=4, max=512)
        coverage: float = setting(24.0, "Windows each word is in per epoch, on average (each epoch reads "
                                  "coverage × the text: coverage / context windows per row).", min=0.1, max=64.0)
        dropout: float = setting(0.0, "Dropout in the Transformer.", min=0.0, max=0.9)
        mask_rate: float = setting(TRAIN_MASK_RATE, "Share of the training words hidden for prediction (BERT: "
                                   "0.15; evaluation always hides 15 %).", min=0.01, max=0.9,
                                   label="Mask rate")

    def __init__(self, cfg: Config, backbone: nn.Module, feat_dim: int, data: DataSpec):
        super().__init__(cfg, backbone, feat_dim, data)
        if not data.vocab or data.corpus is None:
            raise ValueError("BERT-lite needs a text dataset (lee or textfile)")
        if cfg.dim % cfg.heads:
            raise ValueError(f"dim {cfg.dim} must be a multiple of heads {cfg.heads}")
        v = len(data.vocab)
        self.vocab_size = v
        self.mask_id, self.sep = v, v + 1  # [MASK], and a document break (also the padding)
        self.feat_dim = cfg.dim
        self.embedding = nn.Embedding(v + 2, cfg.dim)
        nn.init.normal_(self.embedding.weight, std=0.02)  # BERT's initialisation
        self.position = nn.Parameter(torch.randn(cfg.context, cfg.dim) * 0.02)
        layer = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, 4 * cfg.dim, cfg.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        # BERT's prediction head: a transform, then scores against the input word vectors (tied)
        self.transform = nn.Sequential(nn.LayerNorm(cfg.dim), nn.Linear(cfg.dim, cfg.dim), nn.GELU(),
                                       nn.LayerNorm(cfg.dim))
        self.out_bias = nn.Parameter(torch.zeros(v))
        corpus = np.asarray(data.corpus, dtype=np.int64)
        # the training text, padded by a window on both sides: breaks and held-out documents are
        # separators, so training never reads a test word
        half = cfg.context // 2
        pad = np.full(cfg.context, self.sep)
        text = np.concatenate([pad, training_text(corpus, self.sep), pad])
        # Derived from the data, not learned: rebuilt on load, so kept out of checkpoints.
        self.register_buffer("train_text", torch.from_numpy(text), persistent=False)
        self.window_start = cfg.context - half  # corpus position p sits at text index p + context
        self.test_docs = held_out_documents(corpus)
        self.train_counts = training_counts(corpus, v)

    # --- the model ---------------------------------------------------------------------
    def hidden(self, tokens: Tensor) -> Tensor:
        """The Transformer's last states (B, T, dim) for token windows (B, T ≤ context)."""
        return self.encoder(self.embedding(tokens) + self.position[: tokens.shape[1]])

    def word_logits(self, h: Tensor) -> Tensor:
        """Scores over the real words (…, V) from states (…, dim), against the tied word vectors."""
        return self.transform(h) @ self.embedding.weight[: self.vocab_size].T + self.out_bias

    def training_step(self, batch: Batch) -> StepOutput:
        positions = batch.x[:, 1]
        # coverage / context windows per row on average: a window per row reads each word `context`
        # times, so each word is read `coverage` times per epoch (below or above `context`)
        starts = positions.repeat_interleave(windows_per_row(len(positions), self.cfg.coverage / self.cfg.context,
                                                             positions.device))
        offsets = torch.arange(self.cfg.context, device=positions.device)
        window = self.train_text[starts[:, None] + self.window_start + offsets]
        inputs, chosen = mask_tokens(window, window < self.vocab_size, self.mask_id, self.vocab_size,
                                     self.cfg.mask_rate)
        logits = self.word_logits(self.hidden(inputs)[chosen])
        loss = masked_lm_loss(logits, window[chosen])
        with torch.no_grad():
            hits = (logits.argmax(-1) == window[chosen]).float().mean() if len(logits) else torch.zeros(())
        return StepOutput(loss, {"masked-word accuracy (train)": hits})

    def embed(self, x: Tensor) -> Tensor:
        """The input vector of each row's word (column 0): the explorer's word map."""
        return self.embedding(x[:, 0].long())

    # --- evaluation --------------------------------------------------------------------
    def _held_out_windows(self) -> tuple[Tensor, Tensor]:
        """The held-out documents as windows (W, context), separators between documents and as
        padding, and each token's masking pass (−1 for separators)."""
        parts = []
        for doc in self.test_docs:
            parts += [doc, [self.sep]]
        text = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        word = text < self.vocab_size
        which = np.full(len(text), -1)
        which[word] = eval_passes(int(word.sum()))
        c = self.cfg.context
        pad = -len(text) % c
        text = np.concatenate([text, np.full(pad, self.sep)])
        which = np.concatenate([which, np.full(pad, -1)])
        return torch.from_numpy(text.reshape(-1, c)), torch.from_numpy(which.reshape(-1, c))

    @torch.no_grad()
    def measures(self, batches) -> dict[str, float]:
        """Masked-word accuracy and perplexity on the held-out documents, every word hidden as
        [MASK] once (in one of ~7 passes, ~15 % hidden per pass), beside the floors that read no
        context: always guessing the most frequent training word, and the unigram perplexity."""
        if not self.test_docs or not sum(len(d) for d in self.test_docs):
            return {}
        device = self.out_bias.device
        windows, which = self._held_out_windows()
        windows, which = windows.to(device), which.to(device)
        hits, nll, n = 0, 0.0, 0
        for p in range(int(which.max()) + 1):
            for start in range(0, len(windows), EVAL_WINDOWS):
                w = windows[start:start + EVAL_WINDOWS]
                chosen = which[start:start + EVAL_WINDOWS] == p
                if not chosen.any():
                    continue
                inputs = torch.where(chosen, torch.full_like(w, self.mask_id), w)
                logits = self.word_logits(self.hidden(inputs)[chosen]).float()
                truth = w[chosen]
                hits += int((logits.argmax(-1) == truth).sum())
                nll += float(F.cross_entropy(logits, truth, reduction="sum"))
                n += len(truth)
        test_words = np.concatenate(self.test_docs)
        # perplexity first: the headline a language model is read by, beside its unigram floor
        return {"masked-word perplexity": math.exp(nll / n),
                "unigram perplexity": unigram_perplexity(self.train_counts, test_words),
                "masked-word accuracy": hits / n,
                "most-frequent-word accuracy": float(np.mean(test_words == np.argmax(self.train_counts)))}

    # --- pictures ----------------------------------------------------------------------
    def previews(self, batch: Batch) -> dict[str, Preview]:
        return {"masked": self._masked_preview()} if self.test_docs else {}

    def _masked_preview(self, sentences: int = 3, shown: int = 8, masked: int = 2, k: int = 3) -> Preview:
        """Held-out sentences with `masked` words hidden: the sentence (hidden words red), and
        under each hidden word the model's top-k guesses with their probabilities, ✓ on the true word."""
        device = self.out_bias.device
        shown = min(shown, self.cfg.context)
        rng = np.random.default_rng(PREVIEW_SEED)
        tiles, captions = [], []
        docs = [d for d in self.test_docs if len(d) >= shown][:sentences]
        for doc in docs:
            window = torch.from_numpy(doc[: self.cfg.context].astype(np.int64)).to(device)
            hide = np.sort(rng.choice(shown, size=min(masked, shown), replace=False))
            inputs = window.clone()
            inputs[torch.from_numpy(hide).to(device)] = self.mask_id
            p = torch.softmax(self.word_logits(self.hidden(inputs[None])[0, hide]).float(), -1)
            top_p, top = p.topk(min(k, self.vocab_size), -1)
            guesses = {int(i): (top[j].tolist(), top_p[j].tolist()) for j, i in enumerate(hide)}
            words = [self.data.vocab[int(w)] for w in doc[:shown]]
            for i, w in enumerate(words):
                if i in guesses:
                    tiles.append(word_tile("[MASK]", *TILE, background=_MASKED))
                    captions.append(f"hidden: {w}")
                else:
                    tiles.append(word_tile(w, *TILE))
                    captions.append(w)
            for rank in range(k):
                for i, w in enumerate(words):
                    if i not in guesses or rank >= len(guesses[i][0]):
                        tiles.append(word_tile("", *TILE))
                        captions.append("·")
                        continue
                    g, pg = guesses[i][0][rank], guesses[i][1][rank]
                    guess = self.data.vocab[g]
                    right = guess == w
                    tiles.append(word_tile(guess, *TILE, background=_GOOD if right else _GUESS))
                    captions.append(f"{'✓ ' if right else ''}guess {rank + 1}: {guess} {pg:.2f}")
        return Preview(f"Held-out sentences with {masked} words hidden (red) and the model's top {k} "
                       f"guesses below each", tiles, captions, columns=shown)
