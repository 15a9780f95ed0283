"""MaskGIT's masked-token prior: a bidirectional Transformer over VQ token sequences, its cosine masking schedule and iterative decoding.

Chang et al. 2022, "MaskGIT: Masked generative image transformer", arXiv:2202.04200. Training
masks a cosine-scheduled fraction of each sequence's tokens and predicts them from the rest
(both sides, as BERT does); generation starts from an all-masked sequence and, over a few
steps, keeps the most confident of the sampled tokens while the cosine schedule says how many
stay masked.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

CHOICE_TEMPERATURE = 4.5  # MaskGIT's Gumbel noise on the confidences, annealed to 0 over the steps
CLASS_DROPOUT = 0.1  # share of training sequences whose class is hidden, so unconditional sampling works too


def cosine_schedule(r: torch.Tensor | float) -> torch.Tensor:
    """The fraction of tokens masked at progress r ∈ [0, 1]: cos(π r / 2), 1 at 0 and 0 at 1."""
    return torch.cos(torch.as_tensor(r, dtype=torch.float32) * math.pi / 2)


def random_mask(n: int, length: int, device: torch.device | str = "cpu",
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Training masks (n, length), True = masked: per sequence r ~ U(0, 1) and
    ⌈cos(π r / 2) · length⌉ (at least 1) positions picked at random."""
    r = torch.rand(n, generator=generator, device=device)
    count = torch.ceil(cosine_schedule(r) * length).clamp(1, length)
    ranks = torch.rand(n, length, generator=generator, device=device).argsort(1).argsort(1)
    return ranks < count.unsqueeze(1)


def masked_token_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross entropy over the masked positions only. logits (B, L, K), target and mask (B, L)."""
    return F.cross_entropy(logits[mask].float(), target[mask])


def condition_labels(labels: torch.Tensor | None, n: int, num_classes: int, dropout: float = 0.0,
                     device: torch.device | str = "cpu", generator: torch.Generator | None = None) -> torch.Tensor:
    """Class ids for the class token: labels in [0, num_classes), and num_classes (the
    "no class" token) for unlabelled rows (−1), for a `dropout` share of rows, or for all when
    labels is None."""
    if labels is None or num_classes == 0:
        return torch.full((n,), num_classes, dtype=torch.long, device=device)
    labels = labels.long()
    hidden = (labels < 0) | (labels >= num_classes)
    if dropout > 0:
        hidden = hidden | (torch.rand(n, generator=generator, device=labels.device) < dropout)
    return torch.where(hidden, torch.full_like(labels, num_classes), labels)


class MaskedTokenTransformer(nn.Module):
    """Bidirectional Transformer: a class token followed by `length` token ids (num_codes =
    the mask token) -> logits over the num_codes codes at each of the `length` positions."""

    def __init__(self, num_codes: int, length: int, dim: int = 64, layers: int = 2, heads: int = 4,
                 num_classes: int = 0):
        super().__init__()
        self.num_codes, self.length, self.num_classes = num_codes, length, num_classes
        self.mask_id = num_codes
        self.tokens = nn.Embedding(num_codes + 1, dim)
        self.classes = nn.Embedding(num_classes + 1, dim)  # the last row: no class
        self.positions = nn.Parameter(torch.randn(1, length + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.1, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, num_codes)

    def forward(self, ids: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        h = torch.cat([self.classes(classes).unsqueeze(1), self.tokens(ids)], 1) + self.positions
        return self.out(self.norm(self.body(h)))[:, 1:]


@torch.no_grad()
def maskgit_generate(model: MaskedTokenTransformer, classes: torch.Tensor, steps: int = 8,
                     temperature: float = 1.0, choice_temperature: float = CHOICE_TEMPERATURE,
                     generator: torch.Generator | None = None, trace: list[int] | None = None) -> torch.Tensor:
    """Token ids (n, length) decoded from all-masked sequences in `steps` steps (n = len(classes)).

    Each step samples every masked position from the model's softmax at `temperature`, then
    masks again the ⌊cos(π/2 · (t+1)/steps) · length⌋ least confident of the new tokens
    (confidence = the sampled token's probability, with Gumbel noise annealed from
    choice_temperature to 0); tokens once kept stay. `trace` receives the number of masked
    positions of the first sequence after each step.
    """
    n, length, k = len(classes), model.length, model.num_codes
    device = classes.device
    ids = torch.full((n, length), model.mask_id, dtype=torch.long, device=device)
    for t in range(steps):
        probs = F.softmax(model(ids, classes).float() / max(temperature, 1e-6), -1)
        sampled = torch.multinomial(probs.reshape(-1, k), 1, generator=generator).view(n, length)
        unknown = ids == model.mask_id
        sampled = torch.where(unknown, sampled, ids)
        confidence = torch.gather(probs, 2, sampled.unsqueeze(2)).squeeze(2).clamp_min(1e-12).log()
        ratio = (t + 1) / steps
        u = torch.rand(n, length, generator=generator, device=device).clamp(1e-9, 1 - 1e-9)
        confidence = confidence + choice_temperature * (1 - ratio) * -torch.log(-torch.log(u))
        confidence = torch.where(unknown, confidence, torch.full_like(confidence, math.inf))
        # how many stay masked: the schedule's count, and always at least one fewer than now
        still = torch.floor(cosine_schedule(ratio) * length).long()
        still = torch.minimum(still.expand(n).to(device), unknown.sum(1) - 1).clamp_min(0)
        ranks = confidence.argsort(1).argsort(1)
        ids = torch.where(ranks < still.unsqueeze(1), torch.full_like(sampled, model.mask_id), sampled)
        if trace is not None:
            trace.append(int((ids[0] == model.mask_id).sum()))
    return ids
