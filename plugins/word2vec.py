"""word2vec: skip-gram and CBOW with negative sampling and subsampling of frequent words (Mikolov et al. 2013)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.api import Batch, DataSpec, Method, Preview, StepOutput
from workbench.config import setting
from workbench.nn.text import held_out_documents, held_out_positions, training_counts, unigram_perplexity
from workbench.wordtiles import BACKGROUND, word_tile

MAX_WINDOW = 20
# Raw positions read on each side, as a multiple of the window: subsampled words are skipped
# over (as if deleted from the text, like gensim), so the window may reach past them.
SPAN_FACTOR = 2
PAD = MAX_WINDOW * SPAN_FACTOR
# Words the "nearest words" preview follows when the vocabulary has them; frequent words fill up.
PROBE_WORDS = ("king", "woman", "city", "government", "police", "war", "money", "water", "fire",
               "president", "country", "day", "company", "team", "school", "music", "computer", "car")
N_PROBES = 6
TILE = (28, 96)
_ACCENT = (46, 84, 150)
_NOISE_FG = (160, 160, 160)


def sgns_loss(pos: Tensor, neg: Tensor, neg_mask: Tensor | None = None) -> Tensor:
    """Negative-sampling loss, mean over positive pairs of −log σ(s⁺) − Σ_k log σ(−s⁻_k).

    pos (P,) scores of the true pairs, neg (P, K) scores of their noise words; neg_mask (P, K)
    is False for noise draws to ignore (a draw equal to the true word, as gensim skips them).
    """
    noise = F.softplus(neg)
    if neg_mask is not None:
        noise = noise * neg_mask
    return (F.softplus(-pos) + noise.sum(-1)).mean()


def keep_probabilities(counts, threshold: float) -> np.ndarray:
    """Probability of keeping each occurrence of a word (word2vec.c / gensim): with
    c = t · total count, keep = (√(n/c) + 1) · c / n, capped at 1; threshold 0 keeps all."""
    n = np.asarray(counts, dtype=np.float64)
    if threshold <= 0:
        return np.ones_like(n)
    c = threshold * n.sum()
    return np.minimum(1.0, (np.sqrt(n / c) + 1.0) * c / n)


def noise_distribution(counts, power: float = 0.75) -> np.ndarray:
    """Where negative words are drawn from: the unigram distribution raised to `power`."""
    p = np.asarray(counts, dtype=np.float64) ** power
    return p / p.sum()


def alias_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table (Vose's construction) of a distribution p over n outcomes: draw a
    uniform column i, keep it with probability prob[i], else take alias[i]. Exact, and a draw
    is O(1), where a binary search of the cumulative distribution costs log2(n) scattered reads."""
    n = len(p)
    scaled = np.asarray(p, dtype=np.float64) * n / np.sum(p)
    prob, alias = np.ones(n), np.arange(n)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    return prob, alias  # columns left in either list keep prob 1 (rounding)


def gather_contexts(corpus: Tensor, positions: Tensor, window: int, reach: Tensor,
                    keep: Tensor | None = None) -> Tensor:
    """Context word ids (B, 2·window) around each position, −1 for empty slots.

    corpus is the text with PAD × −1 on both ends (−1 also between documents); reach (B,)
    is each centre's dynamic window in 1..window. With keep (V,) probabilities, words are
    subsampled first and skipped over, so reach counts surviving words, as in gensim.
    Windows never cross a document break.
    """
    b = len(positions)
    span = window * SPAN_FACTOR if keep is not None else window
    offsets = torch.arange(1, span + 1, device=positions.device)
    halves = []
    for sign in (-1, 1):  # left side then right side, nearest word first
        tokens = corpus[PAD + positions[:, None] + sign * offsets].long()
        alive = (tokens >= 0).to(torch.int32).cumprod(1).bool()  # stop at the first break
        if keep is not None:
            alive &= torch.rand(tokens.shape, device=tokens.device) < keep[tokens.clamp(min=0)]
        rank = alive.cumsum(1)  # 1-based rank among the surviving words
        chosen = alive & (rank <= reach[:, None])
        # Scatter each chosen word to slot rank−1; everything else goes to a spare last column.
        slot = torch.where(chosen, rank - 1, torch.full_like(rank, window))
        out = torch.full((b, window + 1), -1, dtype=torch.long, device=positions.device)
        out.scatter_(1, slot, torch.where(chosen, tokens, torch.full_like(tokens, -1)))
        halves.append(out[:, :window])
    return torch.cat(halves, 1)


class Word2Vec(Method):
    name = "word2vec"
    title = "word2vec (skip-gram / CBOW)"
    family = "language"
    modality = "text"
    summary = ("Predict the words around each word (skip-gram) or a word from its neighbours "
               "(CBOW) against random noise words; words used alike end up close. Every 10th "
               "document is held out: how well the vectors predict its words' neighbours.")
    reference = "Mikolov et al. 2013, arXiv:1301.3781 and arXiv:1310.4546"
    # The sparse update is plain SGD; 0.1 (4× gensim's 0.025), cosine-decayed by the trainer, reached
    # WordSim-353 ρ 0.51 on the wiki corpus in 3 epochs where 0.05 gave 0.37 (docs/BENCHMARKS.md).
    run_defaults = {"batch_size": 4096, "lr": 0.1, "epochs": 5, "weight_decay": 0.0,
                    "grad_clip": 0.0, "warmup_epochs": 0.0, "optimizer": "sgd", "momentum": 0.0}

    @dataclass
    class Config:
        mode: str = setting("skipgram", "skipgram predicts the context from the word; cbow the word "
                            "from the mean of its context.", choices=("skipgram", "cbow"),
                            label="Architecture")
        dim: int = setting(100, "Length of each word vector.", min=2, max=1024, label="Dimensions")
        window: int = setting(5, "Largest distance to a context word; each word draws its own "
                              "window from 1 to this, so near words count more.", min=1, max=MAX_WINDOW)
        negatives: int = setting(5, "Noise words per true pair.", min=1, max=50)
        subsample: float = setting(1e-3, "Frequent words are randomly dropped above this share of "
                                   "the text (0 = off).", min=0.0, max=1.0,
                                   label="Subsampling threshold")
        ns_exponent: float = setting(0.75, "Noise words are drawn from counts^this (0 = uniform, "
                                     "1 = by frequency).", min=0.0, max=1.0, label="Noise exponent")
        update: str = setting("sparse", "sparse: plain SGD on just the word rows a batch touches, "
                              "without autograd, at the run's learning rate (word2vec.c's and gensim's "
                              "way; several times faster, one process only). autograd: the run's "
                              "optimiser on the whole tables (set e.g. Adam with lr 0.01).",
                              choices=("sparse", "autograd"), label="Update")

    def __init__(self, cfg: Config, backbone: nn.Module, feat_dim: int, data: DataSpec):
        super().__init__(cfg, backbone, feat_dim, data)
        if not data.vocab or data.corpus is None:
            raise ValueError("word2vec needs a text dataset with a vocabulary (lee or textfile)")
        v, d = len(data.vocab), cfg.dim
        self.feat_dim = d  # the word vectors are the representation; the host's backbone is unused
        self.in_vectors = nn.Embedding(v, d)
        self.out_vectors = nn.Embedding(v, d)
        # Both tables small and random, not word2vec.c's zero output table: under Adam every
        # score then moves from the first step, and it trained better (docs/METHODS.md).
        nn.init.uniform_(self.in_vectors.weight, -0.5 / d ** 0.5, 0.5 / d ** 0.5)
        nn.init.uniform_(self.out_vectors.weight, -0.5 / d ** 0.5, 0.5 / d ** 0.5)
        text = np.asarray(data.corpus, dtype=np.int64)
        # Every 10th document is held out for the measures, as the language models do: training
        # reads it as a document break (no pair reaches into it), and counts only the rest.
        self.test_docs = held_out_documents(text)
        self.train_counts = training_counts(text, v)
        corpus = torch.from_numpy(np.where(held_out_positions(text), -1, text).astype(np.int32))
        # Derived from the data, not learned: rebuilt on load, so kept out of checkpoints.
        self.register_buffer("corpus", F.pad(corpus, (PAD, PAD), value=-1), persistent=False)
        counts = self.train_counts.astype(np.float64) + (self.train_counts == 0)  # a word seen only in
        # the held-out text keeps a count of one: never subsampled, rarely a noise word
        self.register_buffer("keep", torch.tensor(keep_probabilities(counts, cfg.subsample),
                                                  dtype=torch.float32), persistent=False)
        # Noise words by alias table: 2.5x faster than searchsorted on the cumulative distribution
        # (8 against 20 ms for 300k draws over 9,000 words, one thread), a third of the
        # compiled step's time before.
        prob, alias = alias_table(noise_distribution(counts, cfg.ns_exponent))
        self.register_buffer("noise_prob", torch.tensor(prob, dtype=torch.float32), persistent=False)
        self.register_buffer("noise_alias", torch.tensor(alias, dtype=torch.int64), persistent=False)
        self.probes = self._pick_probes(data.vocab)
        if cfg.update == "sparse" and torch.distributed.is_available() and torch.distributed.is_initialized():
            raise ValueError("word2vec's sparse update trains in one process; set update to autograd "
                             "for a multi-process run")

    @staticmethod
    def _pick_probes(vocab: list[str]) -> list[int]:
        index = {w: i for i, w in enumerate(vocab)}
        picked = [index[w] for w in PROBE_WORDS if w in index][:N_PROBES]
        # Fill with frequent content words: past the first few dozen, which are mostly "the", "of"…
        for i in range(min(30, len(vocab) // 4), len(vocab)):
            if len(picked) >= min(N_PROBES, len(vocab)):
                break
            if len(vocab[i]) >= 4 and i not in picked:
                picked.append(i)
        return picked or list(range(min(N_PROBES, len(vocab))))

    # --- training --------------------------------------------------------------------------
    def training_step(self, batch: Batch) -> StepOutput:
        cfg = self.cfg
        centre, positions = batch.x[:, 0], batch.x[:, 1]
        keep = self.keep if cfg.subsample > 0 else None
        if keep is not None:  # a subsampled centre trains nothing this time: drop it before its
            # contexts are gathered (27 % of the centres on lee at 1e-3), as gensim does
            kept = torch.rand(len(centre), device=centre.device) < keep[centre]
            centre, positions = centre[kept], positions[kept]
        reach = torch.randint(1, cfg.window + 1, (len(centre),), device=centre.device)
        context = gather_contexts(self.corpus, positions, cfg.window, reach, keep)
        valid = context >= 0
        if cfg.update == "sparse":
            return self._sparse_step(centre, context, valid)
        if cfg.mode == "skipgram":
            rows, cols = valid.nonzero(as_tuple=True)
            hidden = self.in_vectors(centre[rows])
            targets = context[rows, cols]
        else:
            rows = valid.any(1).nonzero().squeeze(1)
            mask = valid[rows].unsqueeze(-1).to(self.in_vectors.weight.dtype)
            summed = (self.in_vectors(context[rows].clamp(min=0)) * mask).sum(1)
            hidden = summed / mask.sum(1)
            targets = centre[rows]
        return self._negative_sampling(hidden, targets)

    def _negative_sampling(self, hidden: Tensor, targets: Tensor) -> StepOutput:
        if len(targets) == 0:  # every centre subsampled away (tiny batches): a zero step
            zero = self.in_vectors.weight.sum() * 0 + self.out_vectors.weight.sum() * 0
            return StepOutput(zero, {})
        noise = self.draw_noise((len(targets), self.cfg.negatives))
        pos = (hidden * self.out_vectors(targets)).sum(-1)
        # multiply-and-sum, not bmm: a batch of thousands of tiny (K × D)·D products is
        # several times slower as bmm on the CPU
        neg = (self.out_vectors(noise) * hidden.unsqueeze(1)).sum(-1)
        loss = sgns_loss(pos, neg, noise != targets[:, None])
        logs = {"p_context": torch.sigmoid(pos.detach().float()).mean(),
                "p_noise": torch.sigmoid(neg.detach().float()).mean()}
        return StepOutput(loss, logs)

    def _sparse_step(self, centre: Tensor, context: Tensor, valid: Tensor) -> StepOutput:
        """Apply one SGD step of the summed negative-sampling loss to the rows this batch touches
        (no autograd, no whole-table optimiser pass) and return the mean loss for the curves.

        The host sees a loss without a graph and leaves the parameters alone (api.Method.learning_rate).
        """
        w_in = self.in_vectors.weight
        if w_in.device.type == "cpu" and w_in.dtype == torch.float32:
            return self._compiled_step(centre, context, valid)
        return self._batched_step(centre, context, valid)

    @torch.no_grad()
    def _batched_step(self, centre: Tensor, context: Tensor, valid: Tensor) -> StepOutput:
        """The sparse step as batched tensor operations (GPUs): every pair's update from the same
        tables, summed where rows repeat."""
        cfg, lr = self.cfg, self.learning_rate
        w_in, w_out = self.in_vectors.weight, self.out_vectors.weight
        if cfg.mode == "skipgram":
            rows, cols = valid.nonzero(as_tuple=True)
            sources, targets = centre[rows], context[rows, cols]
            hidden = w_in[sources]
        else:
            rows = valid.any(1).nonzero().squeeze(1)
            mask = valid[rows].to(w_in.dtype)
            count = mask.sum(1, keepdim=True)
            words = context[rows].clamp(min=0)
            hidden = (w_in[words] * mask.unsqueeze(-1)).sum(1) / count
            targets = centre[rows]
        if len(targets) == 0:  # every centre subsampled away (tiny batches)
            zero = w_in.new_zeros(())
            return StepOutput(zero, {})
        k = cfg.negatives
        noise = self.draw_noise((len(targets), k))
        words_out = torch.cat([targets[:, None], noise], 1)  # (P, 1 + K): the true word first
        out = w_out[words_out]
        scores = torch.bmm(out, hidden.unsqueeze(-1)).squeeze(-1)
        weight = torch.ones_like(scores)
        weight[:, 1:] = (noise != targets[:, None]).to(scores.dtype)  # gensim skips a draw of the true word
        label = torch.zeros_like(scores)
        label[:, 0] = 1
        # d(loss)/d(score) is σ(s) − label; one SGD step moves by −lr times the gradient
        step = (label - torch.sigmoid(scores)) * weight * lr
        grad_hidden = torch.bmm(step.unsqueeze(1), out).squeeze(1)  # (P, D)
        w_out.index_add_(0, words_out.reshape(-1), (step.unsqueeze(-1) * hidden.unsqueeze(1)).reshape(-1, w_out.shape[1]))
        if cfg.mode == "skipgram":
            w_in.index_add_(0, sources, grad_hidden)
        else:  # the mean's gradient reaches each context word divided by their count
            share = (grad_hidden / count).unsqueeze(1) * mask.unsqueeze(-1)
            w_in.index_add_(0, words.reshape(-1), share.reshape(-1, w_in.shape[1]))
        pos, neg = scores[:, 0], scores[:, 1:]
        loss = sgns_loss(pos, neg, weight[:, 1:].bool())
        logs = {"p_context": torch.sigmoid(pos).mean(), "p_noise": torch.sigmoid(neg).mean()}
        return StepOutput(loss, logs)

    def _compiled_step(self, centre: Tensor, context: Tensor, valid: Tensor) -> StepOutput:
        """The CPU's sparse step: the pairs go through a compiled loop that updates the tables in
        place one pair at a time (word2vec.c's order), instead of batched tensor operations."""
        from workbench import sgns_kernel

        cfg = self.cfg
        w_in = self.in_vectors.weight.detach().numpy()  # views: the kernel writes the parameters
        w_out = self.out_vectors.weight.detach().numpy()
        if cfg.mode == "skipgram":
            rows, cols = valid.nonzero(as_tuple=True)
            sources, targets = centre[rows].numpy(), context[rows, cols].numpy()
            noise = self.draw_noise((len(targets), cfg.negatives)).numpy()
            loss, p_true, p_noise, n_noise = sgns_kernel.skipgram_sgd(w_in, w_out, sources, targets, noise,
                                                                      float(self.learning_rate))
        else:
            rows = valid.any(1).nonzero().squeeze(1)
            contexts = torch.where(valid[rows], context[rows], -1).numpy()
            targets = centre[rows].numpy()
            noise = self.draw_noise((len(targets), cfg.negatives)).numpy()
            loss, p_true, p_noise, n_noise = sgns_kernel.cbow_sgd(w_in, w_out, contexts, targets, noise,
                                                                  float(self.learning_rate))
        pairs = max(1, len(targets))
        logs = {"p_context": p_true / pairs, "p_noise": p_noise / max(1, n_noise)} if len(targets) else {}
        return StepOutput(torch.tensor(loss / pairs), logs)

    def draw_noise(self, shape: tuple[int, ...]) -> Tensor:
        """Word ids drawn from the unigram^ns_exponent distribution (through its alias table)."""
        column = torch.randint(len(self.noise_prob), shape, device=self.noise_prob.device)
        keep = torch.rand(shape, device=self.noise_prob.device) < self.noise_prob[column]
        return torch.where(keep, column, self.noise_alias[column])

    def embed(self, x: Tensor) -> Tensor:
        """The input vector of each row's word (column 0): train rows give their centre word."""
        return self.in_vectors(x[:, 0].long())

    # --- evaluation ------------------------------------------------------------------------
    def held_out_windows(self) -> tuple[Tensor, Tensor]:
        """(centres (N,), contexts (N, 2·window)) for every word of the held-out documents: the
        words at most `window` away in the same document, −1 where there is none."""
        w, centres, contexts = self.cfg.window, [], []
        for doc in self.test_docs:
            padded = np.concatenate([np.full(w, -1), doc, np.full(w, -1)])
            offsets = np.r_[np.arange(-w, 0), np.arange(1, w + 1)]
            centres.append(doc)
            contexts.append(padded[np.arange(len(doc))[:, None] + w + offsets])
        if not centres:
            return torch.zeros(0, dtype=torch.long), torch.zeros(0, 2 * w, dtype=torch.long)
        return (torch.from_numpy(np.concatenate(centres).astype(np.int64)),
                torch.from_numpy(np.concatenate(contexts).astype(np.int64)))

    def log_prior(self) -> Tensor:
        """log q(c) − log keep(c) (V,): what the loss divides out of a score. At the negative-sampling
        optimum exp(u_c · v_w) = p(w, c) / (p(w) q(c) k) for the pairs it trains on, and subsampling
        keeps a pair at keep(c) of its context word's rate, so q(c) exp(u_c · v_w) / keep(c),
        normalised over c, is the conditional p(c | w) the vectors imply (Levy & Goldberg 2014)."""
        counts = self.train_counts.astype(np.float64) + 1.0  # add-one, like the unigram floor
        q = noise_distribution(counts, self.cfg.ns_exponent)
        return torch.from_numpy(np.log(q) - np.log(keep_probabilities(counts, self.cfg.subsample))).float()

    @torch.no_grad()
    def measures(self, batches) -> dict[str, float]:
        """Perplexity of the held-out documents' words under the conditional the vectors imply
        (log_prior): skip-gram's context words given their centre (every pair within `window`),
        CBOW's centre words given the mean of their window's input vectors; beside the floor that
        reads no context, the training text's unigram model on the same words."""
        centres, contexts = self.held_out_windows()
        w_in, w_out = self.in_vectors.weight.float(), self.out_vectors.weight.float()
        valid = contexts >= 0
        if self.cfg.mode == "skipgram":
            rows, cols = valid.nonzero(as_tuple=True)
            sources, targets = centres[rows], contexts[rows, cols]
            label = "context-word perplexity"
        else:
            keep = valid.any(1)
            sources, targets = None, centres[keep]
            mask = valid[keep].unsqueeze(-1).float()
            label = "centre-word perplexity"
        if not len(targets):
            return {}
        prior = self.log_prior().to(w_in.device)
        nll = 0.0
        for start in range(0, len(targets), 4096):  # bounded memory on a large vocabulary
            part = slice(start, start + 4096)
            if sources is not None:
                hidden = w_in[sources[part].to(w_in.device)]
            else:
                m = mask[part].to(w_in.device)
                hidden = (w_in[contexts[keep][part].clamp(min=0).to(w_in.device)] * m).sum(1) / m.sum(1)
            logp = torch.log_softmax(hidden @ w_out.T + prior, -1)
            nll -= float(logp.gather(1, targets[part, None].to(w_in.device)).sum())
        return {label: math.exp(nll / len(targets)),
                "unigram perplexity": unigram_perplexity(self.train_counts, targets.numpy())}

    # --- pictures --------------------------------------------------------------------------
    def _word(self, i: int) -> str:
        return self.data.vocab[int(i)]

    def previews(self, batch: Batch) -> dict[str, Preview]:
        return {"neighbours": self._neighbours_preview(), "pairs": self._pairs_preview(batch)}

    def _neighbours_preview(self, k: int = 7) -> Preview:
        """Each probe word (highlighted) and its k nearest words by cosine similarity."""
        unit = F.normalize(self.in_vectors.weight.float(), dim=1)
        probes = torch.tensor(self.probes, device=unit.device, dtype=torch.long)
        sims = unit[probes] @ unit.T
        sims[torch.arange(len(probes)), probes] = -2  # not itself
        k = min(k, len(self.data.vocab) - 1)
        top_sims, top = sims.topk(k, dim=1)
        tiles, captions = [], []
        for p, row, row_sims in zip(self.probes, top.tolist(), top_sims.tolist()):
            tiles.append(word_tile(self._word(p), *TILE, background=_ACCENT))
            captions.append(f"{self._word(p)}: nearest →")
            for j, s in zip(row, row_sims):
                tiles.append(word_tile(self._word(j), *TILE))
                captions.append(f"{self._word(j)} · cos {s:.2f}")
        return Preview("Nearest words to a few probe words (cosine of input vectors)", tiles,
                       captions, columns=k + 1)

    def _pairs_preview(self, batch: Batch, rows: int = 4, shown: int = 4, noise: int = 3) -> Preview:
        """Real (word, context) pairs against noise words, with the model's probability that each
        pair is real; ✓ where the model is right (real > 0.5, noise < 0.5)."""
        cfg = self.cfg
        x = batch.x[:rows]
        full = torch.full((len(x),), cfg.window, device=x.device)
        context = gather_contexts(self.corpus, x[:, 1], cfg.window, full)
        # nearest words first: interleave left (slots 0..w−1) and right (w..2w−1)
        order = torch.stack([torch.arange(cfg.window), torch.arange(cfg.window) + cfg.window], 1).flatten()
        context = context[:, order.to(x.device)]
        drawn = self.draw_noise((len(x), noise))
        tiles, captions = [], []
        inp, out = self.in_vectors.weight, self.out_vectors.weight
        for centre, ctx, fake in zip(x[:, 0].tolist(), context.tolist(), drawn.tolist()):
            ctx = [c for c in ctx if c >= 0][:shown]
            if cfg.mode == "skipgram":  # P(real) of (centre, word) = σ(v_centre · u_word)
                real = torch.sigmoid(out[ctx] @ inp[centre]).tolist()
                fake_p = torch.sigmoid(out[fake] @ inp[centre]).tolist()
                tiles.append(word_tile(self._word(centre), *TILE, background=_ACCENT))
                captions.append(f"{self._word(centre)} (centre)")
                for c, p in zip(ctx, real):
                    tiles.append(word_tile(self._word(c), *TILE))
                    captions.append(f"{'✓' if p > 0.5 else '✗'} context {p:.2f}")
            else:  # cbow: P(real) of (context, word) = σ(mean of v_context · u_word)
                h = inp[ctx].mean(0) if ctx else torch.zeros_like(inp[centre])
                p = torch.sigmoid(out[centre] @ h).item()
                fake_p = torch.sigmoid(out[fake] @ h).tolist()
                tiles.append(word_tile(self._word(centre), *TILE, background=_ACCENT))
                captions.append(f"{'✓' if p > 0.5 else '✗'} centre {p:.2f}")
                for c in ctx:
                    tiles.append(word_tile(self._word(c), *TILE))
                    captions.append(f"{self._word(c)} (context)")
            for _ in range(shown - len(ctx)):  # short documents: keep the rows aligned
                tiles.append(np.full((*TILE, 3), BACKGROUND, np.uint8))
                captions.append("(no word)")
            for f, p in zip(fake, fake_p):
                tiles.append(word_tile(self._word(f), *TILE, foreground=_NOISE_FG))
                captions.append(f"{'✓' if p < 0.5 else '✗'} noise {p:.2f}")
        title = ("Real context words vs noise words: the model's P(real pair)" if cfg.mode == "skipgram"
                 else "Centre word from its context vs noise words: the model's P(real)")
        return Preview(title, tiles, captions, columns=1 + shown + noise)
