"""VQ-VAE: an autoencoder whose code is a grid (images) or a sequence (spectrogram frames) of
tokens from a learned codebook (van den Oord et al. 2017, "Neural discrete representation
learning", arXiv:1711.00937), with the non-contrastive branch of Mathisen's thesis ("You're your own
best teacher", 2024) on sequences: a VICReg loss between two augmented views' encodings, and a
MaskGIT prior over the tokens (Chang et al. 2022, arXiv:2202.04200) that generates new signals."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.backbones import feature_trunk
from workbench.config import setting
from workbench.nn.losses import reconstruction_loss, vicreg_terms
from workbench.nn.maskgit import (CLASS_DROPOUT, MaskedTokenTransformer, condition_labels, maskgit_generate,
                                  masked_token_loss, random_mask)
from workbench.render import GOOD, bar_tile, heatmap_tile, line_tile
from workbench.timeseries_augment import series_view

USAGE_DECAY = 0.99  # the usage chart counts roughly the last 1 / (1 − 0.99) = 100 steps
RECENT = 100  # a code is "in use" when it was picked in the last RECENT training steps
EMA_EPS = 1e-5  # Laplace smoothing of the EMA cluster sizes: an unused code never divides by 0
TILE = (64, 128)  # sequence preview tiles (H, W): signal, spectrograms and token strip alike
USAGE_SIZE = (96, 256)  # the usage bar chart (H, W)
# VICReg's own term weights (Bardes et al. 2022: λ = μ = 25, ν = 1); vicreg_weight scales the sum
VIC_LAMBDA, VIC_MU, VIC_NU = 25.0, 25.0, 1.0
EXPANDER_FACTOR = 4  # the VICReg expander's width, in multiples of the code size D
PRIOR_HEADS = 4
GRIFFIN_LIM_ITERS = 64  # phase-recovery iterations when generated spectrograms become signals
GRIFFIN_LIM_MOMENTUM = 0.99
GENERATED_PER_CLASS = 3  # the preview: one real signal and this many generated ones per class
MEASURE_SAMPLES = 1000  # generated signals scored by IS / FID (at most the test split's size)
# The settings that shape the tokenizer's weights: a tokenizer_run must have the same ones
TOKENIZER_SETTINGS = ("codebook_size", "code_dim", "decoder_width", "stft_window", "stft_hop", "codebook_update")
TOKENIZER_PARTS = ("encoder.", "decoder.", "quantizer.")  # its weights in the state dict


# --- pure functions -----------------------------------------------------------------------

def nearest_codes(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the closest codeword (squared Euclidean distance) for each row of z: (N,)."""
    z, codebook = z.float(), codebook.float()
    # ‖z‖² is the same for every codeword, so argmin ‖z − e‖² = argmin (‖e‖² − 2 z·e)
    return (codebook.pow(2).sum(1) - 2 * z @ codebook.T).argmin(1)


def vq_losses(z: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(codebook loss ‖sg(z) − e‖², commitment loss ‖z − sg(e)‖²), each the mean over elements.

    The first moves the codewords towards the encoder outputs assigned to them; the second
    keeps the encoder close to its codewords (the paper weights it by β).
    """
    z, q = z.float(), q.float()
    return F.mse_loss(q, z.detach()), F.mse_loss(z, q.detach())


def straight_through(z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """q in the forward pass, the identity in the backward pass: the decoder's gradient with
    respect to the quantised vectors is copied to the encoder's outputs."""
    return z + (q - z).detach()


def code_counts(idx: torch.Tensor, num_codes: int) -> torch.Tensor:
    """How many times each of the K codes was picked: float (K,)."""
    return torch.bincount(idx.flatten(), minlength=num_codes).float()


def perplexity(counts: torch.Tensor) -> torch.Tensor:
    """exp(entropy) of the code distribution given by counts: K for uniform use, 1 for one code."""
    p = counts.float() / counts.sum().clamp_min(1e-12)
    return torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())


def orthogonality_penalty(codebook: torch.Tensor) -> torch.Tensor:
    """‖Ê Êᵀ − I‖²_F / K² for the L2-normalised codewords Ê (K, D): the mean squared cosine
    similarity between different codewords; 0 when they are mutually orthogonal (possible only
    for K ≤ D). Shin et al., arXiv:2112.00384 (eq. 2), push codewords apart this way to make
    image quantisation translation-equivariant."""
    e = F.normalize(codebook.float(), dim=1)
    k = len(e)
    gram = e @ e.T
    return (gram - torch.eye(k, device=e.device)).pow(2).sum() / k ** 2


def ema_codebook_update(cluster_size: torch.Tensor, embed_sum: torch.Tensor, z: torch.Tensor,
                        idx: torch.Tensor, decay: float, eps: float = EMA_EPS
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One exponential-moving-average codebook step (van den Oord et al. 2017, appendix A.1).

    N_i ← γ N_i + (1 − γ) n_i and m_i ← γ m_i + (1 − γ) Σ_{z assigned to i} z, then
    e_i = m_i / N_i (with Laplace smoothing of N): every codeword moves towards the mean of the
    vectors assigned to it, which is one k-means step when γ = 0. Returns (N, m, codebook).
    """
    z = z.float()
    k = len(cluster_size)
    size = decay * cluster_size + (1 - decay) * code_counts(idx, k)
    total = decay * embed_sum + (1 - decay) * torch.zeros_like(embed_sum).index_add_(0, idx, z)
    n = size.sum()
    smoothed = (size + eps) / (n + k * eps) * n
    return size, total, total / smoothed.unsqueeze(1)


def log_spectrogram(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """log(1 + |STFT|) of sequences (B, C, T) with a Hann window: (B, C·(n_fft/2 + 1), frames).

    The log compresses the magnitudes' dynamic range, so quiet partials count in the loss too.
    Computed in float32 whatever the autocast state: the FFT is not reliable in half precision.
    """
    b, c, t = x.shape
    with torch.autocast(x.device.type, enabled=False):
        window = torch.hann_window(n_fft, device=x.device)
        spec = torch.stft(x.float().reshape(b * c, t), n_fft, hop, window=window, center=True,
                          return_complex=True).abs()
    return torch.log1p(spec).reshape(b, c * spec.shape[1], spec.shape[2])


# --- networks -----------------------------------------------------------------------------

class ConvGridDecoder(nn.Module):
    """Quantised grid (B, D, h, w) -> image (B, C, H, W) in [0, 1]: ×2 transposed convolutions
    until the grid reaches the image size, then an exact resize when the sides do not divide."""

    def __init__(self, code_dim: int, grid_hw: tuple[int, int], shape: tuple[int, int, int], width: int):
        super().__init__()
        c, h, w = shape
        self.out_hw = (h, w)
        ups, side = 0, min(grid_hw)
        while side < min(h, w):
            ups, side = ups + 1, side * 2
        layers: list[nn.Module] = [nn.Conv2d(code_dim, width, 3, padding=1), nn.BatchNorm2d(width),
                                   nn.ReLU(inplace=True)]
        for _ in range(ups):
            layers += [nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, c, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        y = self.body(q)
        if y.shape[-2:] != self.out_hw:
            y = F.interpolate(y, size=self.out_hw, mode="bilinear", align_corners=False)
        return torch.sigmoid(y)


def griffin_lim(magnitude: torch.Tensor, n_fft: int, hop: int, length: int,
                iters: int = GRIFFIN_LIM_ITERS, generator: torch.Generator | None = None) -> torch.Tensor:
    """Signals (N, length) whose Hann-window STFT magnitude approaches magnitude (N, n_fft/2 + 1,
    frames): Griffin & Lim 1984, alternating between the wanted magnitudes with the current
    phases and the phases of the signal they give, from random phases, with the momentum of
    Perraudin et al. 2013's fast Griffin-Lim (plain iterations stall at about twice the error)."""
    with torch.autocast(magnitude.device.type, enabled=False):
        mag = magnitude.float()
        window = torch.hann_window(n_fft, device=mag.device)
        phase = torch.rand(mag.shape, generator=generator, device=mag.device) * 2 * math.pi
        signal = torch.istft(torch.polar(mag, phase), n_fft, hop, window=window, center=True, length=length)
        previous = torch.zeros_like(mag, dtype=torch.complex64)
        for _ in range(iters):
            rebuilt = torch.stft(signal, n_fft, hop, window=window, center=True, return_complex=True)
            angles = rebuilt - GRIFFIN_LIM_MOMENTUM / (1 + GRIFFIN_LIM_MOMENTUM) * previous
            previous = rebuilt
            spec = mag * angles / angles.abs().clamp_min(1e-12)
            signal = torch.istft(spec, n_fft, hop, window=window, center=True, length=length)
    return signal


def frame_net(c_in: int, width: int, c_out: int) -> nn.Sequential:
    """Per-frame network over a spectrogram (B, C_in, frames) -> (B, C_out, frames): two
    3-frame convolutions (each token sees its neighbours) and a 1×1 projection."""
    return nn.Sequential(
        nn.Conv1d(c_in, width, 3, padding=1), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
        nn.Conv1d(width, width, 3, padding=1), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
        nn.Conv1d(width, c_out, 1))


def vicreg_expander(dim: int, hidden: int) -> nn.Sequential:
    """VICReg's expander on the pooled encodings (Linear-BN-ReLU, then a Linear): the loss's
    variance and covariance terms act on its wider output, as in the paper."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, hidden))


class Quantised(NamedTuple):
    q: torch.Tensor  # straight-through quantised vectors, same shape as the input (N, D)
    idx: torch.Tensor  # chosen code per vector (N,)
    codebook_loss: torch.Tensor
    commitment: torch.Tensor


class VectorQuantizer(nn.Module):
    """K codewords of size D; maps each vector to its nearest codeword.

    With `ema` the codewords are buffers moved by `ema_codebook_update` (no gradient reaches
    them); otherwise they are a parameter trained by the codebook loss. `usage` is a decayed
    count of how often each code was picked in recent training steps (the usage chart's bars),
    `last_used` the training step (1, 2, …; 0 = never) when each code was last picked.
    """

    def __init__(self, num_codes: int, code_dim: int, ema: bool):
        super().__init__()
        self.ema = ema
        # small, centred codewords (the paper's reference code uses U(−1/K, 1/K)): at the start
        # every codeword sits near the origin, so the encoder's outputs spread over them by
        # direction rather than all landing on the one codeword of smallest norm
        init = torch.empty(num_codes, code_dim).uniform_(-1 / num_codes, 1 / num_codes)
        if ema:
            self.register_buffer("codebook", init)
            # as if each codeword had been assigned itself once: unused codes then stay put
            # instead of being divided by an empty cluster
            self.register_buffer("ema_size", torch.ones(num_codes))
            self.register_buffer("ema_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)
        self.register_buffer("usage", torch.zeros(num_codes))
        self.register_buffer("last_used", torch.zeros(num_codes, dtype=torch.long))
        self.register_buffer("steps", torch.tensor(0))
        # False until init_from() has placed the codewords on data (checkpointed, so a resumed
        # or reloaded model is never re-initialised)
        self.register_buffer("initialised", torch.tensor(False))

    @property
    def num_codes(self) -> int:
        return self.codebook.shape[0]

    def forward(self, z: torch.Tensor) -> Quantised:
        """z: (N, D) -> Quantised; distances and losses in float32 even under autocast."""
        with torch.autocast(z.device.type, enabled=False):
            z = z.float()
            idx = nearest_codes(z.detach(), self.codebook.detach())
            e = self.codebook[idx]
            codebook_loss, commitment = vq_losses(z, e)
            return Quantised(straight_through(z, e), idx, codebook_loss, commitment)

    @torch.no_grad()
    def init_from(self, z: torch.Tensor) -> None:
        """Codewords = K of these vectors drawn at random (with repeats only when there are
        fewer than K), so every codeword starts where the data is."""
        z = z.detach().float()
        k = self.num_codes
        pick = torch.randperm(len(z), device=z.device)[:k] if len(z) >= k else \
            torch.randint(len(z), (k,), device=z.device)
        self.codebook.copy_(z[pick])
        if self.ema:
            self.ema_sum.copy_(self.codebook)
            self.ema_size.fill_(1.0)
        self.initialised.fill_(True)

    @torch.no_grad()
    def update(self, z: torch.Tensor, idx: torch.Tensor, decay: float) -> None:
        """After a training step: record which codes were used and, with EMA, move the codewords."""
        counts = code_counts(idx, self.num_codes)
        self.usage.mul_(USAGE_DECAY).add_(counts)
        self.steps += 1
        self.last_used.masked_fill_(counts > 0, self.steps)
        if self.ema:
            size, total, codebook = ema_codebook_update(self.ema_size, self.ema_sum, z, idx, decay)
            self.ema_size.copy_(size)
            self.ema_sum.copy_(total)
            self.codebook.copy_(codebook)


# --- the method ---------------------------------------------------------------------------

class VQVAE(Method):
    """VQ-VAE on images (a grid of tokens) and on sequences (a token per spectrogram frame).

    Images: the backbone's last feature map (7×7 for the small CNN on 28×28, 8×8 on 32×32) is
    projected to `code_dim` by a 1×1 convolution, each position is replaced by its nearest
    codeword, and a transposed-convolution decoder rebuilds the image. Sequences: the log
    magnitude STFT of each sequence is encoded frame by frame (a small 1-D network over the
    frames, with the frequency bins as channels; the host's backbone is not used), quantised to
    one token per frame, and decoded back to the log-magnitude spectrogram.

    Representation (`embed`, setting `representation`), both built from the quantised tokens:
    - bag (default on sequences): the code histogram (a bag of tokens, K values) next to the
      mean quantised vector (D values), each half L2-normalised so both weigh the same in a
      cosine kNN. The histogram says which tokens occur; the mean says it in the codewords'
      geometry, where similar tokens are close, so two signals using neighbouring codes still
      look alike. Neither depends on where a token occurs: a signal's class (its waveform)
      does not change when it is shifted in time (3 epochs on signals: bag kNN 0.812, grid
      0.767).
    - grid (default on images): the quantised grid flattened (h·w·D values), i.e. exactly what
      the decoder sees. Where a stroke is tells digits apart, and a bag of 8×8 stroke tokens
      throws that away (3 epochs on mnist5k: grid kNN 0.925, bag 0.753).
    """

    name = "vq_vae"
    title = "VQ-VAE (vector-quantised autoencoder)"
    family = "reconstruction"
    modality = "image"
    modalities = ("image", "sequence")
    summary = "Encode into a grid or sequence of discrete tokens from a learned codebook, decode back."
    reference = "van den Oord et al. 2017, arXiv:1711.00937"
    run_defaults = {"batch_size": 128, "lr": 1e-3}

    @classmethod
    def backbone_problem(cls, backbone: str, modality: str) -> str | None:
        if backbone == "mlp" and modality == "image":  # sequences go through its own STFT frame encoder
            return ("vq_vae quantises the backbone's feature map on images, and mlp has none; "
                    "use small_cnn or resnet18")
        if backbone in ("small_cnn_grid", "small_cnn_levels") and modality == "image":
            return (f"vq_vae quantises the backbone's feature map on images, and {backbone} "
                    "gives pooled features instead; use small_cnn or resnet18")
        if backbone.startswith("vit_") and modality == "image":
            return (f"vq_vae quantises the backbone's convolutional feature map, and {backbone} is "
                    f"a transformer; use small_cnn, resnet18 or resnet50")
        return None

    @dataclass
    class Config:
        codebook_size: int = setting(512, "Number of codewords K (the token vocabulary).",
                                     min=2, max=8192, label="Codebook size K")
        code_dim: int = setting(64, "Size D of each codeword.", min=1, max=4096, label="Code size D")
        beta: float = setting(0.25, "Weight β of the commitment loss ‖z − sg(e)‖² that keeps the "
                                    "encoder close to its codewords.", min=0.0, max=100.0,
                              label="Commitment β")
        codebook_update: str = setting("ema", "How codewords learn: exponential moving averages "
                                              "of their assigned vectors (ema), or the codebook "
                                              "loss by gradient.", choices=("ema", "gradient"))
        codebook_init: str = setting("data", "Where the codewords start: on K encoder outputs of "
                                             "the first training batch (data), or near the "
                                             "origin, U(−1/K, 1/K) (uniform, the paper's code).",
                                     choices=("data", "uniform"))
        ema_decay: float = setting(0.99, "Decay γ of the EMA codebook updates (ema only).",
                                   min=0.0, max=0.9999, label="EMA decay")
        ortho_weight: float = setting(0.0, "Weight of the orthogonality penalty on the codewords "
                                           "(gradient codebook only; 0 = off).", min=0.0, max=100.0,
                                      label="Orthogonality weight")
        loss: str = setting("mse", "Image reconstruction loss: mse (the paper's) or bce "
                                   "(sequences always use mse on the log spectrogram).",
                            choices=("bce", "mse"))
        decoder_width: int = setting(64, "Channels of the decoder (and the sequence encoder).",
                                     min=8, max=1024)
        representation: str = setting("auto", "What embed() returns: the quantised grid "
                                              "flattened (grid: keeps where each token is), or "
                                              "a bag of tokens (bag: code histogram + mean "
                                              "codeword, position-free); auto = grid for images, "
                                              "bag for sequences.", choices=("auto", "grid", "bag"))
        stft_window: int = setting(64, "STFT window length in samples (sequences only).",
                                   min=4, max=8192, label="STFT window")
        stft_hop: int = setting(16, "Samples between STFT frames, i.e. per token (sequences only).",
                                min=1, max=8192, label="STFT hop")
        vicreg_weight: float = setting(0.0, "Weight of the non-contrastive branch (sequences only; "
                                            "0 = the plain VQ-VAE): a VICReg loss between the "
                                            "time-pooled encodings of two views made by amplitude "
                                            "scaling, jitter, slicing and time warp (Mathisen 2024).",
                                       min=0.0, max=100.0, label="VICReg branch weight")
        prior_layers: int = setting(0, "Layers of the MaskGIT prior, a bidirectional Transformer "
                                       "that learns the token sequences (masked token modelling, "
                                       "class-conditional when the data has labels) and generates "
                                       "new signals (sequences only; 0 = no prior).",
                                    min=0, max=24, label="Prior layers")
        prior_dim: int = setting(64, "Width of the prior's Transformer.", min=8, max=1024,
                                 label="Prior width")
        generation_steps: int = setting(8, "MaskGIT decoding steps for generated signals.",
                                        min=1, max=256, label="Generation steps")
        tokenizer_run: str | None = setting(None, "MaskGIT's second stage: a vq_vae run folder on the "
                                                  "same data whose tokenizer (best checkpoint, else "
                                                  "last) is loaded and frozen, so only the prior "
                                                  "trains (needs prior_layers ≥ 1 and the run's "
                                                  "tokenizer settings; empty = train both together).",
                                            label="Tokenizer run")

    @classmethod
    def settings_problem(cls, cfg, run) -> str | None:
        """A tokenizer_run that is missing, not a vq_vae run, on other data or with another
        tokenizer shape (the message names the settings to copy)."""
        if not cfg.tokenizer_run:
            return None
        if cfg.prior_layers == 0:
            return "tokenizer_run trains only the MaskGIT prior; set prior_layers to 1 or more"
        if cfg.vicreg_weight > 0 or cfg.ortho_weight > 0:
            return "tokenizer_run freezes the tokenizer, so vicreg_weight and ortho_weight (which train it) must be 0"
        from workbench.build import named_run_config
        from workbench.config import ConfigError, method_config
        where = f"tokenizer_run {cfg.tokenizer_run!r}"
        try:
            first = named_run_config(cfg.tokenizer_run, "tokenizer_run")
            if first.method != cls.name:  # before reading its settings: they are another method's
                return f"{where} is a {first.method} run, not a {cls.name} run"
            theirs = method_config(first, cls.Config)
        except ConfigError as exc:
            return str(exc)
        if (first.dataset, first.data_root) != (run.dataset, run.data_root):
            return f"{where} was trained on dataset {first.dataset}, not this run's {run.dataset}"
        differ = [k for k in TOKENIZER_SETTINGS if getattr(theirs, k) != getattr(cfg, k)]
        if differ:
            return (f"{where} has another tokenizer ({', '.join(f'{k} {getattr(theirs, k)}' for k in differ)}); "
                    f"use its settings: --set {' '.join(f'{k}={getattr(theirs, k)}' for k in differ)}")
        return None

    def load_initial_weights(self) -> None:
        """With tokenizer_run: its tokenizer's weights and codebook (the prior starts fresh)."""
        if not self.cfg.tokenizer_run:
            return
        from workbench.build import named_run_weights
        state, path = named_run_weights(self.cfg.tokenizer_run, "tokenizer_run")
        own = self.state_dict()
        keys = [k for k in own if k.startswith(TOKENIZER_PARTS)]
        misfit = [k for k in keys if k not in state or tuple(state[k].shape) != tuple(own[k].shape)]
        if misfit:
            raise ValueError(f"tokenizer_run: {path} does not fit this tokenizer ({misfit[0]} "
                             f"{'is missing' if misfit[0] not in state else 'has another shape'})")
        self.load_state_dict({k: state[k] for k in keys}, strict=False)

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        if cfg.ortho_weight > 0 and cfg.codebook_update == "ema":
            raise ValueError("ortho_weight needs codebook_update=gradient: EMA codewords get no "
                             "gradient, so the penalty would do nothing")
        self.sequence = data.modality == "sequence"
        d, width = cfg.code_dim, cfg.decoder_width
        if self.sequence:
            channels, length = data.input_shape
            if cfg.stft_window > length:
                raise ValueError(f"stft_window {cfg.stft_window} is longer than the sequences "
                                 f"({length} samples); pick at most {length}")
            bins = channels * (cfg.stft_window // 2 + 1)
            self.encoder = frame_net(bins, width, d)
            self.decoder = frame_net(d, width, bins)
            positions = length // cfg.stft_hop + 1  # torch.stft(center=True) frames
        else:
            if feature_trunk(backbone) is None:
                raise ValueError("the backbone must be convolutional (small_cnn or resnet18): "
                                 "the VQ-VAE quantises its feature map, and mlp has none")
            self.project = nn.Conv2d(feat_dim, d, 1)
            grid = self._grid_shape(backbone, data.input_shape)
            self.decoder = ConvGridDecoder(d, grid, data.input_shape, width)
            positions = grid[0] * grid[1]
        self.quantizer = VectorQuantizer(cfg.codebook_size, d, ema=cfg.codebook_update == "ema")
        if cfg.vicreg_weight > 0:
            if not self.sequence:
                raise ValueError("vicreg_weight needs sequence data: its views are time-series "
                                 "augmentations (amplitude scaling, jitter, slicing, time warp)")
            # only built when on, so plain runs keep exactly their old weights and checkpoints
            self.expander = vicreg_expander(d, EXPANDER_FACTOR * d)
        if cfg.prior_layers > 0:
            if not self.sequence:
                raise ValueError("prior_layers needs sequence data: the prior generates signals "
                                 "(a token per spectrogram frame)")
            if cfg.prior_dim % PRIOR_HEADS:
                raise ValueError(f"prior_dim must be a multiple of {PRIOR_HEADS} (its attention heads)")
            self.prior = MaskedTokenTransformer(cfg.codebook_size, positions, cfg.prior_dim, cfg.prior_layers,
                                                PRIOR_HEADS, data.num_classes)
        self.representation = cfg.representation
        if self.representation == "auto":
            self.representation = "bag" if self.sequence else "grid"
        self.feat_dim = d * positions if self.representation == "grid" else cfg.codebook_size + d
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None
        # MaskGIT's second stage: the tokenizer (and the unused host backbone) never learn, so
        # the host's optimiser holds only the prior (it skips parameters without requires_grad)
        self.frozen = bool(cfg.tokenizer_run)
        if self.frozen:
            for name, p in self.named_parameters():
                p.requires_grad_(name.startswith("prior."))

    def train(self, mode: bool = True) -> "VQVAE":
        """As nn.Module.train, but a frozen tokenizer stays in eval mode: its BatchNorm
        statistics are the first stage's."""
        super().train(mode)
        if self.frozen:
            for name, child in self.named_children():
                if name != "prior":
                    child.train(False)
        return self

    @staticmethod
    def _grid_shape(backbone: nn.Module, shape: tuple[int, ...]) -> tuple[int, int]:
        was = backbone.training
        backbone.eval()  # eval: a dry run must not touch BatchNorm statistics
        with torch.no_grad():
            fmap = feature_trunk(backbone)(torch.zeros(1, *shape))
        backbone.train(was)
        return tuple(fmap.shape[-2:])

    # --- encode / quantise / decode ---------------------------------------------------------
    def target(self, x: torch.Tensor) -> torch.Tensor:
        """What the decoder rebuilds: the image itself, or the log-magnitude spectrogram."""
        return log_spectrogram(x, self.cfg.stft_window, self.cfg.stft_hop) if self.sequence else x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous latents before quantisation: (B, D, h, w) or (B, D, frames)."""
        if self.sequence:
            return self.encoder(self.target(x))
        return self.project(feature_trunk(self.backbone)(x))

    def quantise(self, z: torch.Tensor) -> tuple[Quantised, torch.Tensor, torch.Tensor]:
        """(Quantised over all positions, quantised latents shaped like z, code ids (B, *grid))."""
        flat = z.movedim(1, -1).reshape(-1, z.shape[1])
        out = self.quantizer(flat)
        q = out.q.reshape(*z.movedim(1, -1).shape).movedim(-1, 1)
        return out, q, out.idx.reshape(z.shape[0], *z.shape[2:])

    def reconstruction_pair(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(target, reconstruction) for inputs x, e.g. for a reconstruction error."""
        _, q, _ = self.quantise(self.encode(x))
        return self.target(x), self.decoder(q)

    # --- the contract -----------------------------------------------------------------------
    def training_step(self, batch: Batch) -> StepOutput:
        if self.frozen:
            return self._prior_only_step(batch)
        cfg = self.cfg
        target = self.target(batch.x)
        z = self.encoder(target) if self.sequence else self.encode(batch.x)
        if self.training and cfg.codebook_init == "data" and not self.quantizer.initialised:
            self.quantizer.init_from(z.movedim(1, -1).reshape(-1, z.shape[1]))
        out, q, _ = self.quantise(z)
        recon = self.decoder(q)
        if self.sequence:
            rec = F.mse_loss(recon.float(), target.float())
        else:
            rec = reconstruction_loss(recon, target, cfg.loss)
        loss = rec + cfg.beta * out.commitment
        counts = code_counts(out.idx, cfg.codebook_size)
        logs = {"recon_mse": F.mse_loss(recon.detach().float(), target.float()),
                "commitment": out.commitment.detach(),
                "usage": (counts > 0).float().mean(), "perplexity": perplexity(counts)}
        if not self.quantizer.ema:
            loss = loss + out.codebook_loss
            logs["codebook_loss"] = out.codebook_loss.detach()
        if cfg.ortho_weight > 0:
            ortho = orthogonality_penalty(self.quantizer.codebook)
            loss = loss + cfg.ortho_weight * ortho
            logs["orthogonality"] = ortho.detach()
        if cfg.prior_layers > 0:
            prior_loss, accuracy = self._prior_step(out.idx.view(len(batch.x), -1), batch.y)
            loss = loss + prior_loss
            logs.update({"prior_loss": prior_loss.detach(), "prior_masked_acc": accuracy})
        if cfg.vicreg_weight > 0:
            t = self._vicreg_branch(batch.x)
            vic = VIC_LAMBDA * t["invariance"] + VIC_MU * t["variance"] + VIC_NU * t["covariance"]
            loss = loss + cfg.vicreg_weight * vic
            logs.update({"vicreg": vic.detach(), **{f"vicreg_{k}": v.detach() for k, v in t.items()}})
        if self.training:
            # applied in on_step_end, i.e. only once the host has taken the optimiser step
            z_flat = z.detach().float().movedim(1, -1).reshape(-1, z.shape[1])
            self._pending = (z_flat, out.idx.detach())
        return StepOutput(loss, logs)

    def _prior_only_step(self, batch: Batch) -> StepOutput:
        """MaskGIT's second stage: the frozen tokenizer's tokens, and the prior's loss on them."""
        with torch.no_grad():
            out, _, ids = self.quantise(self.encoder(self.target(batch.x)))
        loss, accuracy = self._prior_step(ids.view(len(batch.x), -1), batch.y)
        counts = code_counts(out.idx, self.cfg.codebook_size)
        return StepOutput(loss, {"prior_loss": loss.detach(), "prior_masked_acc": accuracy,
                                 "usage": (counts > 0).float().mean(), "perplexity": perplexity(counts)})

    def _vicreg_branch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """VICReg terms between the expanded, time-pooled encodings of two augmented views."""
        views = torch.cat([series_view(x), series_view(x)])
        pooled = self.encoder(self.target(views)).mean(2)
        z1, z2 = self.expander(pooled).chunk(2)
        return vicreg_terms(z1, z2)

    def _prior_step(self, ids: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked-token loss of the prior on this batch's tokens, and its accuracy on the masked ones.

        The tokens are detached ids, so the prior learns the tokenizer's current vocabulary and
        never pulls the tokenizer towards tokens that are easy to predict. It sees the class
        labels (the class token) to generate per class; the representation never does.
        """
        ids = ids.detach()
        mask = random_mask(len(ids), ids.shape[1], ids.device)
        classes = condition_labels(labels, len(ids), self.data.num_classes, CLASS_DROPOUT, ids.device)
        logits = self.prior(ids.masked_fill(mask, self.prior.mask_id), classes)
        accuracy = (logits.detach()[mask].argmax(1) == ids[mask]).float().mean()
        return masked_token_loss(logits, ids, mask), accuracy

    @torch.no_grad()
    def generate(self, classes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """New signals (n, C, T) from the prior: MaskGIT-decoded tokens for these class ids
        (num_classes = no class), their codewords through the decoder to a log spectrogram,
        and Griffin-Lim back to a waveform."""
        ids = maskgit_generate(self.prior, classes, self.cfg.generation_steps, generator=generator)
        q = self.quantizer.codebook[ids].movedim(-1, 1)  # (n, D, frames)
        log_mag = self.decoder(q).float()
        channels, length = self.data.input_shape
        n, bins = len(ids), self.cfg.stft_window // 2 + 1
        mag = torch.expm1(log_mag.clamp_min(0)).reshape(n * channels, bins, -1)
        signal = griffin_lim(mag, self.cfg.stft_window, self.cfg.stft_hop, length, generator=generator)
        return signal.reshape(n, channels, length)

    def _labelled(self) -> bool:
        return self.data.num_classes > 1

    def measures(self, batches) -> dict[str, float]:
        """IS and FID of generated signals beside real-vs-real and noise baselines (prior on,
        labelled data): workbench.generative_scores, with a classifier trained once per dataset."""
        if self.cfg.prior_layers == 0 or not self._labelled():
            return {}
        from workbench.generative_scores import cached_classifier, posteriors_and_features, score_report
        x_train, y_train = _gather(batches("train"))
        x_test, y_test = _gather(batches("test"))
        known = y_train >= 0
        if known.sum() == 0 or len(x_test) == 0:
            return {}
        classifier = cached_classifier(x_train[known], y_train[known], self.data.num_classes)
        n = min(MEASURE_SAMPLES, len(x_test))
        g = torch.Generator().manual_seed(0)
        # classes in the train split's proportions, as the real signals have them
        classes = y_train[known][torch.randint(int(known.sum()), (n,), generator=g)]
        device = self.quantizer.codebook.device
        dev_g = torch.Generator(device=device).manual_seed(0)
        generated = torch.cat([self.generate(c.to(device), dev_g).cpu() for c in classes.split(250)])
        scores = score_report(classifier, generated, x_train[known], x_test)
        probs, _ = posteriors_and_features(classifier, x_test)
        labelled = y_test >= 0
        scores["classifier test accuracy"] = float((torch.from_numpy(probs).argmax(1)[labelled]
                                                    == y_test[labelled]).float().mean())
        probs_gen, _ = posteriors_and_features(classifier, generated)
        scores["generated class agreement"] = float((torch.from_numpy(probs_gen).argmax(1) == classes).float().mean())
        return scores

    def on_step_end(self, step: int, total_steps: int) -> None:
        if self._pending is not None:
            z, idx = self._pending
            self._pending = None
            self.quantizer.update(z, idx, self.cfg.ema_decay)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The quantised grid flattened, or the bag of tokens (see the class docstring)."""
        _, q, idx = self.quantise(self.encode(x))
        if self.representation == "grid":
            return q.flatten(1)
        ids = idx.flatten(1)
        hist = torch.zeros(len(ids), self.cfg.codebook_size, device=ids.device)
        hist.scatter_add_(1, ids, torch.ones(ids.shape, device=ids.device))
        pooled = q.flatten(2).mean(2)
        return torch.cat([F.normalize(hist, dim=1), F.normalize(pooled, dim=1)], 1)

    # --- pictures ---------------------------------------------------------------------------
    def previews(self, batch: Batch) -> dict[str, Preview]:
        previews = self._sequence_previews(batch) if self.sequence else self._image_previews(batch)
        previews["codebook_usage"] = self._usage_preview()
        if self.cfg.vicreg_weight > 0:
            previews["views"] = self._views_preview(batch)
        if self.cfg.prior_layers > 0:
            previews["generated"] = self._generated_preview(batch)
        return previews

    def _generated_preview(self, batch: Batch) -> Preview:
        """Per class (when labelled): a real signal, then signals generated for that class."""
        device = batch.x.device
        g = torch.Generator(device=device).manual_seed(0)  # the same draws at every preview
        names = self.data.class_names
        rows = [c for c in range(self.data.num_classes) if (batch.y == c).any()] if self._labelled() else []
        if rows:
            reals = [batch.x[batch.y == c][0] for c in rows]
            labels = [names[c] if c < len(names) else str(c) for c in rows]
        else:  # unlabelled: unconditional samples
            rows, reals, labels = [self.data.num_classes] * 2, list(batch.x[:2]), ["", ""]
        classes = torch.tensor(rows, device=device).repeat_interleave(GENERATED_PER_CLASS)
        generated = self.generate(classes, g).view(len(rows), GENERATED_PER_CLASS, *batch.x.shape[1:])
        series, captions = [], []
        for real, fake, label in zip(reals, generated, labels):
            series += [real[0], *fake[:, 0]]
            tag = f" · {label}" if label else ""
            captions += [f"real{tag}"] + [f"generated{tag}"] * GENERATED_PER_CLASS
        return Preview.from_series("Real signal, then signals generated by the MaskGIT prior (per class)",
                                   torch.stack(series), captions, columns=1 + GENERATED_PER_CLASS, size=TILE)

    def _views_preview(self, batch: Batch) -> Preview:
        x = batch.x[:4]
        v1, v2 = series_view(x), series_view(x)
        tiles = torch.stack([x, v1, v2], 1).flatten(0, 1)[:, 0]  # first channel of each
        return Preview.from_series("The branch's two views (input / view 1 / view 2)", tiles,
                                   ["input", "view 1", "view 2"] * len(x), columns=3, size=TILE)

    def _image_previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        _, q, idx = self.quantise(self.encode(x))
        x_hat = self.decoder(q)
        errors = ((x_hat - x) ** 2).flatten(1).mean(1).tolist()
        captions = ["input"] * len(x) + [f"recon · mse {e:.3f}" for e in errors]
        h, w = x.shape[-2:]
        k = self.cfg.codebook_size
        maps = [heatmap_tile(i.cpu().numpy(), (h, w), 0, k - 1) for i in idx]
        return {
            "reconstructions": Preview.from_tensor("Inputs / reconstructions", torch.cat([x, x_hat]),
                                                   captions, columns=len(x)),
            "tokens": Preview(f"Token maps ({idx.shape[1]}×{idx.shape[2]} code ids, colour = id)",
                              maps, [f"{len(torch.unique(i))} distinct codes" for i in idx],
                              columns=len(x)),
        }

    def _sequence_previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:4]
        spec = self.target(x)
        _, q, idx = self.quantise(self.encoder(spec))
        recon = self.decoder(q)
        k = self.cfg.codebook_size
        tiles, captions = [], []
        for i in range(len(x)):
            s, r = spec[i].cpu().numpy(), recon[i].float().cpu().numpy()
            lo, hi = float(s.min()), float(s.max())  # one colour scale for input and recon
            mse = float(((r - s) ** 2).mean())
            tiles += [line_tile(x[i].cpu().numpy(), TILE),
                      heatmap_tile(s, TILE, lo, hi, origin="lower"),
                      heatmap_tile(idx[i].cpu().numpy()[None], TILE, 0, k - 1),
                      heatmap_tile(r, TILE, lo, hi, origin="lower")]
            label = int(batch.y[i])
            names = self.data.class_names
            name = (names[label] if label < len(names) else str(label)) if label >= 0 else None
            captions += ["signal" + (f" · {name}" if name is not None else ""),
                         "log |STFT|", f"tokens · {len(torch.unique(idx[i]))} distinct of {idx.shape[1]}",
                         f"recon · mse {mse:.3f}"]
        return {"sequences": Preview("Signal / spectrogram / tokens over time / reconstruction",
                                     tiles, captions, columns=4)}

    def _usage_preview(self) -> Preview:
        usage = self.quantizer.usage.float().cpu().numpy()
        order = np.sort(usage)[::-1]  # most used first: the dead codes are the flat tail
        if len(order) > USAGE_SIZE[1]:  # more codes than pixel columns: the busiest of each band
            order = np.array([band.max() for band in np.array_split(order, USAGE_SIZE[1])])
        k = len(usage)
        steps = int(self.quantizer.steps)
        if steps == 0:
            caption = "no training steps yet"
        else:
            last = self.quantizer.last_used
            used = int(((last > 0) & (last > steps - RECENT)).sum())
            window = min(steps, RECENT)
            caption = (f"{used} of {k} codes picked in the last {window} step{'s' * (window != 1)} · "
                       f"perplexity {perplexity(self.quantizer.usage).item():.1f}")
        return Preview("Codebook usage, codes sorted by use", [bar_tile(order, USAGE_SIZE, colour=GOOD, gap=0)],
                       [caption], columns=1)


def _gather(batches) -> tuple[torch.Tensor, torch.Tensor]:
    """A split's inputs and labels from its batches, on the CPU."""
    xs, ys = [], []
    for b in batches:
        xs.append(b.x.detach().float().cpu())
        ys.append(b.y.detach().long().cpu())
    if not xs:
        return torch.zeros(0), torch.zeros(0, dtype=torch.long)
    return torch.cat(xs), torch.cat(ys)
