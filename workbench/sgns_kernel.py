"""Compiled negative-sampling SGD for word2vec on the CPU: one pair at a time, as word2vec.c and gensim do."""
from __future__ import annotations

import math

import numpy as np

from workbench.embeddings import configure_numba_cache

configure_numba_cache()  # the kernels compile once per machine, then load from the cache

from numba import njit  # noqa: E402


@njit(cache=True, fastmath=True, nogil=True)
def _pair(w_out, h, neu1e, word, label, lr):
    """One (hidden, word) score: update the word's output row, add to the hidden's error; loss, σ."""
    out = w_out[word]
    # float32 throughout the vector loops (a float64 accumulator or step doubled their width and
    # cost ~25 % of the pair rate); the scalar σ and loss stay in float64
    f = np.float32(0.0)
    for d in range(h.shape[0]):
        f += h[d] * out[d]
    e = math.exp(-f)
    s = 1.0 / (1.0 + e)
    g = np.float32((label - s) * lr)
    for d in range(h.shape[0]):
        neu1e[d] += g * out[d]
        out[d] += g * h[d]
    # −log σ(f) for a true word, −log σ(−f) for a noise word: softplus(z) = max(z, 0) +
    # log1p(exp(−|z|)), with exp(−|f|) taken from the σ's exponential instead of a second exp
    z = -f if label > 0 else f
    loss = max(z, 0.0) + math.log1p(e if f >= 0 else 1.0 / e)
    return loss, s


@njit(cache=True, fastmath=True, nogil=True)
def _true_and_noise(w_out, h, neu1e, target, noise_row, lr):
    """The true word then each noise word (a draw of the true word skipped, as gensim does):
    loss, σ of the true word, Σσ of the noise words, noise words used."""
    loss, p_true = _pair(w_out, h, neu1e, target, 1.0, lr)
    p_noise, n_noise = 0.0, 0
    for j in range(noise_row.shape[0]):
        word = noise_row[j]
        if word == target:
            continue
        l, s = _pair(w_out, h, neu1e, word, 0.0, lr)
        loss += l
        p_noise += s
        n_noise += 1
    return loss, p_true, p_noise, n_noise


@njit(cache=True, fastmath=True, nogil=True)
def skipgram_sgd(w_in, w_out, sources, targets, noise, lr):
    """SGD on each (source → target, noise) pair in turn; returns (loss sum, Σσ true, Σσ noise, noise count)."""
    dim = w_in.shape[1]
    neu1e = np.empty(dim, np.float32)
    loss, p_true, p_noise, n_noise = 0.0, 0.0, 0.0, 0
    for p in range(sources.shape[0]):
        h = w_in[sources[p]]
        neu1e[:] = 0.0
        l, t, q, k = _true_and_noise(w_out, h, neu1e, targets[p], noise[p], lr)
        loss += l
        p_true += t
        p_noise += q
        n_noise += k
        for d in range(dim):
            h[d] += neu1e[d]
    return loss, p_true, p_noise, n_noise


@njit(cache=True, fastmath=True, nogil=True)
def cbow_sgd(w_in, w_out, contexts, targets, noise, lr):
    """SGD for each (mean of its context words (−1 = none) → target, noise) row in turn; as skipgram_sgd."""
    dim = w_in.shape[1]
    neu1e = np.empty(dim, np.float32)
    h = np.empty(dim, np.float32)
    loss, p_true, p_noise, n_noise = 0.0, 0.0, 0.0, 0
    for p in range(targets.shape[0]):
        h[:] = 0.0
        count = 0
        for c in range(contexts.shape[1]):
            word = contexts[p, c]
            if word >= 0:
                count += 1
                for d in range(dim):
                    h[d] += w_in[word, d]
        if count == 0:
            continue
        for d in range(dim):
            h[d] /= count
        neu1e[:] = 0.0
        l, t, q, k = _true_and_noise(w_out, h, neu1e, targets[p], noise[p], lr)
        loss += l
        p_true += t
        p_noise += q
        n_noise += k
        for c in range(contexts.shape[1]):  # the mean's gradient: each context word gets 1/count
            word = contexts[p, c]
            if word >= 0:
                for d in range(dim):
                    w_in[word, d] += neu1e[d] / count
    return loss, p_true, p_noise, n_noise
