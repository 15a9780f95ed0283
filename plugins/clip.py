"""CLIP on shapes: match images with captions made from their factors by symmetric InfoNCE (Radford et al. 2021, arXiv:2103.00020)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.captions import CaptionVocab, caption, prompt
from workbench.config import setting
from workbench.embeddings import compute_embeddings
from workbench.render import heatmap_tile

MAX_SCALE = 100.0  # CLIP clips its learned logit scale (1 / temperature) at 100
PREVIEW_ITEMS = 8


def clip_loss(img: torch.Tensor, txt: torch.Tensor, logit_scale: torch.Tensor | float,
              positives: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE between N image and N text embeddings (row i of each is a pair).

    Each image is classified over the N texts and each text over the N images, at cosine
    similarity × logit_scale, and the two cross entropies are averaged. `positives` (bool N×N,
    [i, j] true when text j describes image i; the diagonal by default) spreads the target evenly
    over every true text of an image (and every image a text is true of): a short caption such as
    "a red shape" is true of every red image in the batch and must not be pushed away from them.
    """
    img, txt = F.normalize(img.float(), dim=1), F.normalize(txt.float(), dim=1)
    logits = logit_scale * img @ txt.T
    n = len(img)
    pos = torch.eye(n, dtype=torch.bool, device=img.device) if positives is None else positives.to(img.device)
    pos = pos | torch.eye(n, dtype=torch.bool, device=img.device)
    t = pos.float()
    image_to_text = -(t / t.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    text_to_image = -(t / t.sum(0, keepdim=True) * logits.log_softmax(0)).sum(0).mean()
    return (image_to_text + text_to_image) / 2


def caption_truth(codes: dict[str, torch.Tensor], mentioned: dict[str, torch.Tensor]) -> torch.Tensor:
    """bool (N, N): [i, j] true when every factor that caption j mentions has image i's value."""
    n = len(next(iter(codes.values())))
    truth = torch.ones(n, n, dtype=torch.bool, device=next(iter(codes.values())).device)
    for name, c in codes.items():
        same = c[:, None] == c[None, :]
        truth &= same | ~mentioned[name][None, :]
    return truth


class TextEncoder(nn.Module):
    """Word and position embeddings, a small Transformer encoder, mean over the words, a linear map."""

    def __init__(self, vocab_size: int, max_len: int, width: int, layers: int, out_dim: int):
        super().__init__()
        self.words = nn.Embedding(vocab_size, width, padding_idx=0)
        self.positions = nn.Parameter(torch.randn(max_len, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, nhead=4 if width % 4 == 0 else 1, dim_feedforward=2 * width,
                                           dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Linear(width, out_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pad = ids == 0
        h = self.encoder(self.words(ids) + self.positions[: ids.shape[1]], src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).float()
        return self.out((h * keep).sum(1) / keep.sum(1).clamp_min(1.0))


class CLIP(Method):
    name = "clip"
    title = "CLIP (image–caption contrastive)"
    family = "image-text"
    modality = "image"
    input_channels = (3,)
    summary = "Match each image with a caption made from its factors (symmetric InfoNCE); zero-shot by prompts."
    reference = "Radford et al. 2021, arXiv:2103.00020"
    run_defaults = {"batch_size": 128, "lr": 1e-3}

    @dataclass
    class Config:
        embed_dim: int = setting(64, "Size of the shared image–text space.", min=2, max=2048,
                                 label="Embedding size")
        text_width: int = setting(64, "Width of the text Transformer.", min=4, max=1024)
        text_layers: int = setting(1, "Layers of the text Transformer.", min=1, max=12)
        mention: float = setting(0.6, "Chance that a training caption names each factor (the rest "
                                      "say less: 'a red shape'), so that one-factor prompts work.",
                                 min=0.0, max=1.0, label="Mention probability")
        temperature: float = setting(0.07, "Starting softmax temperature (learned, as in CLIP).",
                                     min=0.01, max=1.0)

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        if not data.factors:
            raise ValueError(f"clip makes its captions from ground-truth factors, and dataset "
                             f"{data.name!r} has none; use shapes")
        self.vocab = CaptionVocab(data.factors)
        self.image_head = nn.Linear(feat_dim, cfg.embed_dim)
        self.text = TextEncoder(len(self.vocab), self.vocab.max_len, cfg.text_width, cfg.text_layers, cfg.embed_dim)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / cfg.temperature)))

    # --- the two towers --------------------------------------------------------------------
    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        """Unit image embeddings in the shared space."""
        return F.normalize(self.image_head(self.backbone(x)), dim=1)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Unit caption embeddings in the shared space (unknown words read as <unk>)."""
        ids = torch.from_numpy(self.vocab.encode(texts)).to(self.log_scale.device)
        return F.normalize(self.text(ids), dim=1)

    def unknown_words(self, text: str) -> list[str]:
        return self.vocab.unknown(text)

    def scale(self) -> torch.Tensor:
        return self.log_scale.exp().clamp(max=MAX_SCALE)

    # --- training --------------------------------------------------------------------------
    def _codes(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        rows = index.cpu().numpy()
        if not self.data.train_factors:
            raise ValueError(f"dataset {self.data.name!r} gives no factor codes for its training rows")
        return {n: torch.from_numpy(np.asarray(self.data.train_factors[n])[rows]).to(index.device)
                for n in self.data.factors}

    def captions_for(self, codes: dict[str, torch.Tensor], mentioned: dict[str, torch.Tensor]) -> list[str]:
        names = list(codes)
        cpu = {n: codes[n].tolist() for n in names}
        said = {n: mentioned[n].tolist() for n in names}
        return [caption(self.data.factors, {n: cpu[n][i] for n in names}, {n for n in names if said[n][i]})
                for i in range(len(cpu[names[0]]))]

    def training_step(self, batch: Batch) -> StepOutput:
        codes = self._codes(batch.index)
        mentioned = {n: torch.rand(len(batch.x), device=batch.x.device) < self.cfg.mention for n in codes}
        texts = self.captions_for(codes, mentioned)
        img = self.encode_image(batch.x)
        txt = self.encode_text(texts)
        truth = caption_truth(codes, mentioned)
        loss = clip_loss(img, txt, self.scale(), truth)
        with torch.no_grad():
            hits = truth.gather(1, (img @ txt.T).argmax(1, keepdim=True)).float().mean()
        return StepOutput(loss, {"caption_top1": hits, "logit_scale": self.scale().detach()})

    # --- evaluation ------------------------------------------------------------------------
    def zero_shot(self, x, factor_codes: dict[str, np.ndarray]) -> dict[str, float]:
        """Per factor: accuracy of picking the value whose one-factor prompt ("a red shape")
        is closest to each image of x (stored rows, as the dataset holds them)."""
        device = self.log_scale.device
        img = torch.from_numpy(compute_embeddings(self.encode_image, x, 512, device))
        out = {}
        for name, values in self.data.factors.items():
            if name not in factor_codes:
                continue
            prompts = self.encode_text([prompt(self.data.factors, name, v) for v in range(len(values))]).cpu()
            guess = (img @ prompts.T).argmax(1).numpy()
            out[f"zero_shot_{name}"] = float((guess == np.asarray(factor_codes[name])).mean())
        if out:
            out["zero_shot_mean"] = float(np.mean(list(out.values())))
        return out

    def measures(self, batches) -> dict[str, float]:
        """Zero-shot accuracy per factor on the test split, the mean (the headline) first."""
        d = batches.dataset
        per_factor = self.zero_shot(d.x_test, d.factors_test)
        mean = per_factor.pop("zero_shot_mean", None)
        return per_factor if mean is None else {"zero_shot_mean": mean, **per_factor}

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:PREVIEW_ITEMS]
        codes = self._codes(batch.index[:PREVIEW_ITEMS])
        every = {n: torch.ones(len(x), dtype=torch.bool, device=x.device) for n in codes}
        texts = self.captions_for(codes, every)
        sims = (self.encode_image(x) @ self.encode_text(texts).T).cpu()
        best = sims.argmax(1).tolist()
        captions = [("✓ " if j == i else "✗ ") + texts[j] for i, j in enumerate(best)]
        matrix = heatmap_tile(sims.numpy(), size=(128, 128), vmin=-1, vmax=1)
        return {
            "matches": Preview.from_tensor("Each image with the closest of these captions (✓ its own)",
                                           x, captions, columns=4),
            "similarity": Preview("Cosine similarity, images (rows) × their captions (columns)",
                                  [matrix], ["diagonal bright = each image finds its caption"], columns=1),
        }
