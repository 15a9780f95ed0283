"""wav2vec 2.0 on 1-D signals: mask spans of convolutional latent frames and, at each masked frame, pick its Gumbel-quantised latent out of distractors from the same signal (Baevski et al. 2020, arXiv:2006.11477)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.config import setting
from workbench.render import GOOD, MUTED, bar_tile, heatmap_tile, line_tile, shared_limits

TILE = (48, 128)  # every preview tile (the inspector cuts the grid into equal tiles)
MASK_COLOUR = (255, 150, 60)
PREVIEW_SEED = 0  # the same masks in every preview, so pictures compare across epochs
# The feature encoder, (kernel, stride, padding) per layer: the paper's (10, 5), (3, 2)×4,
# (2, 2)×2 turns 16 kHz audio into 50 frames a second; these three turn 256 samples into 32
# frames, 8 samples apart, each seeing 36 samples (a high-band period is about 12 samples).
ENCODER_LAYERS = ((8, 4, 2), (4, 2, 1), (3, 1, 1))


# --- the pieces with known answers (tests/plugins/test_wav2vec2.py) ---------------------------
def mask_spans(batch: int, frames: int, prob: float, length: int,
               generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """(batch, frames) bool: the masked latent frames.

    As in the paper, a share `prob` of the frames is drawn without replacement as span starts
    and the `length` frames from each start are masked; spans may overlap. Per row the number
    of starts is floor(prob·frames + u), u ~ U(0, 1) (its mean is prob·frames), at least one,
    and starts lie in 0..frames − length so every span fits (fairseq's compute_mask_indices).
    """
    starts = frames - length + 1
    if starts < 1:
        raise ValueError(f"a mask span of {length} frames does not fit in {frames} frames")
    u = torch.rand(batch, generator=generator, device=device)
    count = torch.floor(prob * frames + u).long().clamp(1, starts)
    # a random ranking of the start positions per row; the `count` first ones are the starts
    rank = torch.rand(batch, starts, generator=generator, device=device).argsort(1).argsort(1)
    chosen = rank < count[:, None]
    mask = torch.zeros(batch, frames, dtype=torch.bool, device=device)
    for offset in range(length):
        mask[:, offset:offset + starts] |= chosen
    return mask


def expected_mask_coverage(frames: int, prob: float, length: int) -> float:
    """The exact expected share of frames mask_spans masks (what a seeded draw must match)."""
    starts = frames - length + 1
    base = prob * frames
    low = math.floor(base)
    total = 0.0
    for count, weight in ((low, 1 - (base - low)), (low + 1, base - low)):
        n = min(max(count, 1), starts)
        for t in range(frames):
            covering = min(t, starts - 1) - max(0, t - length + 1) + 1  # starts whose span holds t
            total += weight * (1 - math.comb(starts - covering, n) / math.comb(starts, n))
    return total / frames


def gumbel_softmax_st(logits: torch.Tensor, tau: float, noise: torch.Tensor | None = None) -> torch.Tensor:
    """One-hot choices over the last dim with straight-through gradients: the forward value is
    the one-hot argmax of (logits + Gumbel noise) / tau, the gradient that of the soft softmax."""
    if noise is None:
        u = torch.rand_like(logits, dtype=torch.float32).clamp(1e-9, 1 - 1e-9)
        noise = -torch.log(-torch.log(u))
    soft = torch.softmax((logits.float() + noise) / tau, dim=-1)
    hard = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft


def diversity_loss(probs: torch.Tensor) -> torch.Tensor:
    """(G·V − Σ_g exp H(p̄_g)) / (G·V) for softmax probabilities (N, G, V) of N frames: p̄_g is
    group g's codebook usage averaged over the frames. 0 when every codeword is used equally
    (perplexity V in each group), 1 − 1/V when each group always picks one codeword (fairseq's
    form of the paper's L_d = (1/GV) Σ_g −H(p̄_g))."""
    _, G, V = probs.shape
    mean = probs.float().mean(0)
    perplexity = torch.exp(-(mean * torch.log(mean + 1e-7)).sum(-1)).sum()
    return (G * V - perplexity) / (G * V)


def sample_distractors(mask: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(N, k) indices into the N masked frames (mask.nonzero() order, row by row): for each
    masked frame, k others drawn uniformly with replacement from the masked frames of the same
    signal, never itself. Every row needs at least two masked frames."""
    counts = mask.sum(1)
    if bool((counts[counts > 0] < 2).any()):
        raise ValueError("every signal needs at least two masked frames to draw distractors from")
    row = mask.nonzero()[:, 0]
    offsets = counts.cumsum(0) - counts
    own = torch.arange(len(row), device=mask.device) - offsets[row]  # rank within its signal
    others = (counts[row] - 1)[:, None].float()
    r = (torch.rand(len(row), k, generator=generator, device=mask.device) * others).long()
    r = torch.minimum(r, others.long() - 1)  # rand() may round up to 1.0 in float32
    r = r + (r >= own[:, None]).long()  # skip the frame itself
    return offsets[row][:, None] + r


def contrastive_loss(context: torch.Tensor, targets: torch.Tensor, distractors: torch.Tensor,
                     temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """L_m = −log exp(sim(c_t, q_t)/κ) / Σ_{q̃ ∈ {q_t} ∪ distractors} exp(sim(c_t, q̃)/κ), mean
    over the masked frames, with sim the cosine similarity; and the share of frames whose own
    target scores highest. context, targets: (N, D); distractors: (N, K) indices into targets.
    A distractor equal to the target (the same codewords) is left out, as in fairseq: it is
    the answer, not a wrong one."""
    negatives = targets[distractors]  # (N, K, D)
    candidates = torch.cat([targets[:, None], negatives], 1).float()
    logits = F.cosine_similarity(context[:, None].float(), candidates, dim=-1) / temperature
    same = (negatives == targets[:, None]).all(-1)
    logits = torch.cat([logits[:, :1], logits[:, 1:].masked_fill(same, float("-inf"))], 1)
    loss = F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))
    with torch.no_grad():
        accuracy = (logits.argmax(1) == 0).float().mean()
    return loss, accuracy


def masked_runs(frames: list[int]) -> list[tuple[int, int]]:
    """(first, last) of each run of consecutive frame numbers, e.g. [1, 2, 3, 7] -> [(1, 3), (7, 7)]:
    one shaded band per run, so overlapping receptive fields are not shaded twice."""
    runs: list[tuple[int, int]] = []
    for t in frames:
        if runs and t == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return runs


# --- the model ---------------------------------------------------------------------------------
class FeatureEncoder(nn.Module):
    """Strided 1-D convolutions with GELU, (B, C, T) → (B, frames, width); group norm after
    the first layer (one group per channel, the paper's base model) and a layer norm on the
    output frames."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        layers: list[nn.Module] = []
        for i, (kernel, stride, pad) in enumerate(ENCODER_LAYERS):
            layers.append(nn.Conv1d(channels if i == 0 else width, width, kernel, stride, pad, bias=False))
            if i == 0:
                layers.append(nn.GroupNorm(width, width))
            layers.append(nn.GELU())
        self.convs = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.convs(x).transpose(1, 2))

    @staticmethod
    def frame_span(t: int) -> tuple[int, int]:
        """The samples [start, end) latent frame t sees (its receptive field)."""
        start, field, jump = 0, 1, 1
        for kernel, stride, pad in ENCODER_LAYERS:
            start -= pad * jump
            field += (kernel - 1) * jump
            jump *= stride
        return start + t * jump, start + t * jump + field


class GumbelQuantiser(nn.Module):
    """Product quantisation: G groups of V codewords; each frame picks one codeword per group
    (Gumbel-softmax, hard with straight-through gradients, while training; the argmax
    otherwise) and the picks are concatenated."""

    class Output(NamedTuple):
        q: torch.Tensor  # (..., code_dim) the quantised vector
        probs: torch.Tensor  # (..., G, V) softmax of the logits, no noise: what L_d averages
        idx: torch.Tensor  # (..., G) the codeword picked in each group

    def __init__(self, dim_in: int, groups: int, entries: int, code_dim: int):
        super().__init__()
        self.groups, self.entries = groups, entries
        self.logits = nn.Linear(dim_in, groups * entries)
        nn.init.normal_(self.logits.weight, std=1.0)  # fairseq's init: confident picks from the start
        nn.init.zeros_(self.logits.bias)
        self.codebook = nn.Parameter(torch.rand(groups, entries, code_dim // groups))

    def forward(self, z: torch.Tensor, tau: float) -> "GumbelQuantiser.Output":
        logits = self.logits(z).view(*z.shape[:-1], self.groups, self.entries).float()
        if self.training:
            onehot = gumbel_softmax_st(logits, tau)
        else:
            onehot = F.one_hot(logits.argmax(-1), self.entries).float()
        q = torch.einsum("...gv,gvd->...gd", onehot, self.codebook.float()).flatten(-2)
        return self.Output(q, torch.softmax(logits, -1), onehot.argmax(-1))


class Wav2Vec2(Method):
    """wav2vec 2.0 (Baevski et al. 2020) on sequences.

    The feature encoder (strided convolutions, its own: the host's backbone is not used) turns
    a signal into latent frames z_t (32 per 256-sample signal). Spans of frames are masked
    (their projections replaced by one learned vector); a small Transformer with a
    convolutional positional embedding reads the sequence and gives a context c_t per frame.
    The Gumbel-softmax product quantiser turns the unmasked z_t of each masked frame into the
    target q_t. Loss: L_m + α·L_d, the contrastive loss of c_t against q_t and K distractors
    (quantised latents of other masked frames of the same signal; cosine similarity over a
    temperature κ) plus α times the diversity loss on the averaged codebook usage.

    Representation (`embed`): the context features c_t of the unmasked signal, averaged over
    its frames (model_dim values).
    """

    name = "wav2vec2"
    title = "wav2vec 2.0 (masked contrastive, quantised targets)"
    family = "masked-modelling"
    modality = "sequence"
    summary = ("Mask spans of a signal's latent frames; from the context pick each masked frame's "
               "quantised latent out of distractors from the same signal.")
    reference = "Baevski et al. 2020, arXiv:2006.11477"
    # 5e-4, the paper's peak rate: 2 epochs on signals reached probe kNN 0.812 against 0.766 at 2e-3
    run_defaults = {"batch_size": 64, "lr": 5e-4}

    @dataclass
    class Config:
        mask_prob: float = setting(0.15, "Share p of the latent frames drawn as mask-span starts (the "
                                         "paper's 0.065 with 10-frame spans masks ~49 % of long "
                                         "utterances; 0.15 with 4-frame spans masks 49 % of our 32 "
                                         "frames).", min=0.0, max=1.0, label="Mask start probability p")
        mask_length: int = setting(4, "Frames M masked from each start (the paper's 10 frames are 200 "
                                      "ms of speech; 4 frames are 32 samples, 1/8 of a signal).",
                                   min=2, max=64, label="Mask span M (frames)")
        distractors: int = setting(10, "Distractors K per masked frame, drawn from the other masked "
                                       "frames of the same signal (the paper: 100 of ~400).",
                                   min=1, max=1000, label="Distractors K")
        temperature: float = setting(0.1, "Temperature κ of the cosine similarities (the paper's 0.1).",
                                     min=0.001, max=10.0, exclusive_min=True, label="Temperature κ")
        diversity_weight: float = setting(0.1, "Weight α of the diversity loss (the paper's 0.1).",
                                          min=0.0, max=100.0, label="Diversity weight α")
        groups: int = setting(2, "Codebook groups G of the product quantiser (the paper's 2).",
                              min=1, max=16, label="Codebook groups G")
        entries: int = setting(32, "Codewords V per group (the paper: 320 for ~10⁵ hours of frames; "
                                   "32 for 6,000 short signals).", min=2, max=4096, label="Codewords V")
        tau_max: float = setting(2.0, "Gumbel-softmax temperature at the start (the paper's 2).",
                                 min=0.01, max=100.0, label="Gumbel τ start")
        tau_min: float = setting(0.5, "Gumbel-softmax temperature reached 70 % into the run and kept "
                                      "(the paper's 0.5, reached ~70 % into its 400k updates).",
                                 min=0.01, max=100.0, label="Gumbel τ end")
        encoder_width: int = setting(64, "Channels of the convolutional feature encoder.", min=4, max=1024)
        model_dim: int = setting(64, "Width of the Transformer context network (and of the "
                                     "representation).", min=8, max=1024)
        layers: int = setting(2, "Transformer layers of the context network.", min=1, max=24)
        heads: int = setting(4, "Attention heads (model_dim must be a multiple).", min=1, max=32)
        final_dim: int = setting(32, "Size of the space where contexts and targets are compared.",
                                 min=2, max=1024)
        dropout: float = setting(0.1, "Dropout in the Transformer (the paper's 0.1).", min=0.0, max=0.9)

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        if len(data.input_shape) != 2:
            raise ValueError("wav2vec2 needs sequences shaped (C, T)")
        if cfg.model_dim % cfg.heads:
            raise ValueError(f"model_dim={cfg.model_dim} is not a multiple of heads={cfg.heads}")
        if cfg.tau_min > cfg.tau_max:
            raise ValueError(f"tau_min={cfg.tau_min} is above tau_max={cfg.tau_max}")
        self.backbone = nn.Identity()  # the feature encoder below is its own; the host's is unused
        channels, length = data.input_shape
        self.encoder = FeatureEncoder(channels, cfg.encoder_width)
        with torch.no_grad():
            self.frames = self.encoder.convs(torch.zeros(1, channels, length)).shape[-1]
        if self.frames < cfg.mask_length + 1:
            raise ValueError(f"sequences of {length} samples give {self.frames} latent frames, too few "
                             f"for mask spans of {cfg.mask_length}; use a smaller mask_length")
        d = cfg.model_dim
        self.project = nn.Linear(cfg.encoder_width, d)
        self.mask_embedding = nn.Parameter(torch.rand(d))  # fairseq: uniform init
        self.position = nn.Conv1d(d, d, kernel_size=7, padding=3, groups=4 if d % 4 == 0 else 1)
        self.context_norm = nn.LayerNorm(d)
        layer = nn.TransformerEncoderLayer(d, cfg.heads, 2 * d, cfg.dropout, activation="gelu",
                                           batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        code_dim = cfg.groups * max(1, cfg.final_dim // cfg.groups)
        self.quantiser = GumbelQuantiser(cfg.encoder_width, cfg.groups, cfg.entries, code_dim)
        self.project_q = nn.Linear(code_dim, cfg.final_dim)
        self.final = nn.Linear(d, cfg.final_dim)
        self.register_buffer("tau", torch.tensor(float(cfg.tau_max)))
        self.feat_dim = d

    # --- forward pieces -----------------------------------------------------------------------
    def context(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, frames, model_dim) contexts of latent frames z, with the masked frames replaced."""
        h = self.project(z)
        if mask is not None:
            h = torch.where(mask[..., None], self.mask_embedding.to(h.dtype), h)
        h = h + F.gelu(self.position(h.transpose(1, 2))).transpose(1, 2)
        return self.transformer(self.context_norm(h))

    def draw_mask(self, batch: int, device, generator: torch.Generator | None = None) -> torch.Tensor:
        cfg = self.cfg
        mask = mask_spans(batch, self.frames, cfg.mask_prob, cfg.mask_length, generator,
                          "cpu" if generator is not None else device)
        return mask.to(device)

    def training_step(self, batch: Batch) -> StepOutput:
        cfg = self.cfg
        z = self.encoder(batch.x)
        mask = self.draw_mask(len(z), z.device)
        c = self.final(self.context(z, mask)[mask])  # (N, final_dim): the masked frames only
        quant = self.quantiser(z[mask], float(self.tau))
        q = self.project_q(quant.q)
        distractors = sample_distractors(mask, cfg.distractors)
        contrastive, accuracy = contrastive_loss(c, q, distractors, cfg.temperature)
        diversity = diversity_loss(quant.probs)
        with torch.no_grad():
            used = F.one_hot(quant.idx, cfg.entries).float().mean(0)  # (G, V) hard usage
            code_perplexity = torch.exp(-(used * torch.log(used + 1e-7)).sum(-1)).sum()
        return StepOutput(contrastive + cfg.diversity_weight * diversity, {
            "contrastive": contrastive.detach(), "diversity": diversity.detach(),
            "pick_acc": accuracy, "code_perplexity": code_perplexity,
            "masked": mask.float().mean(), "gumbel_tau": float(self.tau)})

    def on_step_end(self, step: int, total_steps: int) -> None:
        # exponential decay from tau_max to tau_min, reached 70 % into the run (as in the paper)
        progress = min(1.0, (step + 1) / max(1.0, 0.7 * total_steps))
        cfg = self.cfg
        self.tau.fill_(cfg.tau_max * (cfg.tau_min / cfg.tau_max) ** progress)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The context features of the unmasked signal, averaged over its frames."""
        return self.context(self.encoder(x)).mean(1)

    # --- pictures -----------------------------------------------------------------------------
    def previews(self, batch: Batch) -> dict[str, Preview]:
        return {"masked_spans": self._span_preview(batch.x[:8]),
                "codebook_usage": self._usage_preview(batch.x[:64])}

    def _span_preview(self, x: torch.Tensor) -> Preview:
        """Per signal: its masked frames shaded, and the cosine similarity of each masked frame's
        prediction to the quantised target of every frame (the true targets on the diagonal)."""
        g = torch.Generator().manual_seed(PREVIEW_SEED)
        z = self.encoder(x)
        mask = self.draw_mask(len(z), z.device, g)
        c = F.normalize(self.final(self.context(z, mask)).float(), dim=-1)
        q = F.normalize(self.project_q(self.quantiser(z, float(self.tau)).q).float(), dim=-1)
        ylim = shared_limits(x.float().cpu().numpy())
        length = x.shape[-1]
        tiles, captions = [], []
        for b in range(len(x)):  # 8 pictures for people, not a training loop
            frames = mask[b].nonzero().squeeze(1).tolist()
            spans = [(max(0, FeatureEncoder.frame_span(first)[0]), min(length, FeatureEncoder.frame_span(last)[1]),
                      MASK_COLOUR, 0.3) for first, last in masked_runs(frames)]
            tiles.append(line_tile(x[b].float().cpu().numpy(), TILE, ylim=ylim, spans=spans))
            captions.append(f"{len(frames)}/{self.frames} frames masked")
            sim = c[b, frames] @ q[b].T  # (masked, frames)
            among_masked = sim[:, frames].argmax(1).cpu()
            hits = int((among_masked == torch.arange(len(frames))).sum())
            tiles.append(heatmap_tile(sim.cpu().numpy(), TILE, vmin=-1, vmax=1, cmap="coolwarm"))
            captions.append(f"{hits}/{len(frames)} picked their own target")
        return Preview(
            "Signal with its masked frames shaded (orange: the samples those frames see) / cosine "
            "similarity of each masked frame's prediction (rows) to the quantised target of every "
            "frame (columns; red = similar; a good model lights the masked frames' own targets)",
            tiles, captions, columns=4)

    def _usage_preview(self, x: torch.Tensor) -> Preview:
        """How often each codeword is picked over every frame of the batch, per group, and the
        softmax usage p̄ the diversity loss sees."""
        cfg = self.cfg
        quant = self.quantiser(self.encoder(x), float(self.tau))
        idx = quant.idx.reshape(-1, cfg.groups)
        tiles, captions = [], []
        for group in range(cfg.groups):
            counts = torch.bincount(idx[:, group], minlength=cfg.entries).float().cpu()
            share = counts / counts.sum()
            used = int((counts > 0).sum())
            perplexity = float(torch.exp(-(share * torch.log(share + 1e-7)).sum()))
            colours = [GOOD if n > 0 else MUTED for n in counts.tolist()]
            tiles.append(bar_tile(share.numpy(), TILE, colours=colours, vmin=0))
            captions.append(f"group {group + 1}: {used}/{cfg.entries} codewords, perplexity {perplexity:.1f}")
        mean = quant.probs.reshape(-1, cfg.groups, cfg.entries).float().mean(0).cpu().numpy()
        tiles.append(heatmap_tile(mean / max(float(np.max(mean)), 1e-9), TILE, vmin=0, vmax=1))
        total = float(diversity_loss(quant.probs.reshape(-1, cfg.groups, cfg.entries)))
        captions.append(f"softmax usage p̄ (rows: groups), L_d = {total:.2f}"
                        f"{'' if total < 0.9 else ' (a few codewords only: collapsing)'}")
        return Preview(f"Codeword frequency per group over {len(idx)} frames (green: used, grey: "
                       f"never picked) / softmax usage averaged over frames (L_d is 0 when even)",
                       tiles, captions, columns=cfg.groups + 1)
