"""Contrastive predictive coding on 1-D sequences: encode overlapping windows into codes z_t,
summarise the codes so far with a GRU into a context c_t, and from c_t pick out the code k
windows ahead among the codes of every window of the batch (van den Oord et al. 2018,
arXiv:1807.03748)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.config import setting
from workbench.nn.losses import cpc_loss
from workbench.render import BAD, GOOD, MUTED, bar_tile, heatmap_tile, line_tile, shared_limits

TILE = (48, 128)  # every preview tile (the inspector cuts the grid into equal tiles)
CONTEXT_COLOUR, TARGET_COLOUR = (60, 120, 255), (255, 150, 60)


def cpc_sequence_loss(z: torch.Tensor, preds: list[torch.Tensor], offsets: list[int]
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE over prediction steps: (loss, accuracy).

    z: (B, n, D) codes of n windows per sequence. preds[i]: (B, n − k, D) with k = offsets[i];
    preds[i][b, t] is the prediction, from the context up to window t, of z[b, t + k]. Every
    code of the batch is a candidate, so the negatives come from the same sequence (its other
    windows) and from the other sequences. The loss is the mean over steps of each step's
    InfoNCE (log(B·n) for predictions that carry no information, 0 for perfect ones);
    accuracy is the share of predictions whose best-scoring candidate is the true code.
    """
    B, n, D = z.shape
    codes = z.reshape(B * n, D)
    index = torch.arange(B * n, device=z.device).view(B, n)
    losses, hits, total = [], z.new_zeros(()), 0
    for k, pred in zip(offsets, preds):
        p = pred.reshape(-1, D)
        target = index[:, k:].reshape(-1)
        losses.append(cpc_loss(p, codes, target))
        with torch.no_grad():
            hits = hits + ((p.float() @ codes.float().T).argmax(1) == target).float().sum()
            total += len(target)
    return torch.stack(losses).mean(), hits / max(total, 1)


def windows(x: torch.Tensor, window: int, hop: int) -> torch.Tensor:
    """(B, C, T) -> (B, n, C, window): every window of `window` samples, `hop` apart."""
    return x.unfold(-1, window, hop).permute(0, 2, 1, 3)


class CPCSequence(Method):
    name = "cpc_sequence"
    title = "CPC on sequences"
    family = "joint-embedding"
    modality = "sequence"
    summary = "Summarise a sequence so far and pick out its next few windows among distractors."
    reference = "van den Oord et al. 2018, arXiv:1807.03748"
    # 3e-3: in 300 steps the pooled context reached kNN 0.93 against 0.91 with 1e-3
    run_defaults = {"batch_size": 64, "lr": 3e-3}

    @classmethod
    def backbone_problem(cls, backbone: str, modality: str) -> str | None:
        if backbone != "small_cnn":  # the mlp takes only whole sequences, resnet18 only images
            return "cpc_sequence encodes windows of each sequence with a 1-D CNN; use small_cnn"
        return None

    @dataclass
    class Config:
        window: int = setting(32, "Samples each code z_t sees: the backbone encodes windows of "
                                  "this length (its receptive field).", min=4, max=100000,
                              label="Window (samples)")
        hop: int = setting(16, "Samples between consecutive windows (the encoder's stride).",
                           min=1, max=100000, label="Hop (samples)")
        first_step: int = setting(2, "Nearest window predicted, counted in windows after the "
                                     "context (2 with window = 2 × hop: no target shares "
                                     "samples with the context).", min=1, max=64)
        steps: int = setting(4, "How many windows ahead are predicted (one linear head each).",
                             min=1, max=64)
        embedding: str = setting("context", "The representation: the GRU context averaged over "
                                            "time, the window codes averaged, or the backbone "
                                            "on the whole sequence.",
                                 choices=("context", "codes", "sequence"))

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        if len(data.input_shape) != 2:
            raise ValueError("cpc_sequence needs sequences shaped (C, T)")
        channels, length = data.input_shape
        if cfg.window > length:
            raise ValueError(f"window={cfg.window} is longer than the sequences ({length} steps); "
                             f"use a window of at most {length}")
        self.n_windows = (length - cfg.window) // cfg.hop + 1
        if cfg.first_step >= self.n_windows:
            raise ValueError(f"first_step={cfg.first_step} leaves nothing to predict with "
                             f"{self.n_windows} windows per sequence; use a smaller first_step, "
                             f"window or hop")
        self._check_backbone(channels)
        self.offsets = [k for k in range(cfg.first_step, cfg.first_step + cfg.steps)
                        if k < self.n_windows]
        # the context has the backbone's width, so every embedding choice is feat_dim wide
        self.context = nn.GRU(feat_dim, feat_dim, batch_first=True)
        self.heads = nn.ModuleList(nn.Linear(feat_dim, feat_dim) for _ in self.offsets)

    def _check_backbone(self, channels: int) -> None:
        """The backbone encodes windows, not whole sequences; one that cannot is a user error."""
        was = self.backbone.training
        self.backbone.eval()  # no batch-norm statistics are touched
        try:
            with torch.no_grad():
                self.backbone(torch.zeros(2, channels, self.cfg.window))
        except RuntimeError:
            raise ValueError(f"the backbone encodes windows of {self.cfg.window} samples and this "
                             f"one only takes whole sequences; use small_cnn") from None
        finally:
            self.backbone.train(was)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n, F): the backbone's code z_t of every window (all windows in one batch)."""
        w = windows(x, self.cfg.window, self.cfg.hop)
        B, n = w.shape[:2]
        return self.backbone(w.flatten(0, 1)).view(B, n, -1)

    def predictions(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The contexts c_t (B, n, F) and, per offset k, the predictions of z_{t+k} from c_t."""
        c, _ = self.context(z)
        n = z.shape[1]
        return c, [head(c[:, : n - k]) for k, head in zip(self.offsets, self.heads)]

    def training_step(self, batch: Batch) -> StepOutput:
        z = self.codes(batch.x)
        _, preds = self.predictions(z)
        loss, acc = cpc_sequence_loss(z, preds, self.offsets)
        return StepOutput(loss, {"cpc_acc": acc})

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The GRU context averaged over time (default), the mean window code, or the backbone
        on the whole sequence."""
        if self.cfg.embedding == "sequence":
            return self.backbone(x)
        z = self.codes(x)
        if self.cfg.embedding == "codes":
            return z.mean(dim=1)
        c, _ = self.context(z)
        return c.mean(dim=1)

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:16]
        names = self.data.class_names
        labels = [names[int(y)] if 0 <= int(y) < len(names) else "unlabelled" for y in batch.y[:16]]
        out = {"inputs": Preview.from_series("Input sequences (label shown for reference only)",
                                             x, labels, columns=4)}
        out["predictions"] = self._prediction_preview(batch.x[:8])
        return out

    def _prediction_preview(self, x: torch.Tensor) -> Preview:
        """Per sequence: where the context and its targets lie; how much probability InfoNCE
        gives the true window at each step (against its strongest rival); and which window of
        the sequence each prediction points to."""
        cfg, offsets = self.cfg, self.offsets
        z = self.codes(x)
        _, preds = self.predictions(z)
        B, n, _ = z.shape
        codes = z.reshape(B * n, -1).float()
        ylim = shared_limits(x.float().cpu().numpy())
        last = n - 1 - offsets[-1]  # the latest context that still has every target
        tiles, captions = [], []
        for b in range(B):  # 8 pictures for people, not a training loop
            t = (3 * b + last // 2) % (last + 1)
            picked, bars, colours, rows = [], [], [], []
            for k, pred in zip(offsets, preds):
                target = b * n + t + k
                # InfoNCE's view: a softmax over every window of the preview batch
                prob = torch.softmax(codes @ pred[b, t].float(), dim=0)
                rival = float(torch.cat([prob[:target], prob[target + 1:]]).max())
                picked.append(int(prob.argmax()) == target)
                bars += [float(prob[target]), rival]
                colours += [GOOD if picked[-1] else BAD, MUTED]
                own = prob[b * n:(b + 1) * n]  # this sequence's windows, brightest = preferred
                rows.append((own / own.max()).cpu().numpy())
            end = t * cfg.hop + cfg.window
            first, final = (t + offsets[0]) * cfg.hop, (t + offsets[-1]) * cfg.hop + cfg.window
            spans = [(0, end, CONTEXT_COLOUR, 0.3), (first, final, TARGET_COLOUR, 0.3)]
            tiles.append(line_tile(x[b].float().cpu().numpy(), TILE, ylim=ylim, spans=spans))
            captions.append(f"context: samples 0–{end - 1}")
            tiles.append(bar_tile(bars, TILE, colours=colours, vmin=0, vmax=1))
            captions.append(f"{'✓' if all(picked) else '✗'} {sum(picked)}/{len(picked)} steps picked")
            tiles.append(heatmap_tile(np.stack(rows), TILE, vmin=0, vmax=1))
            captions.append(f"k = {offsets[0]}…{offsets[-1]} (rows) × window 0…{n - 1}")
        return Preview(
            "Context (blue) and targets (orange) / probability of the true window per step k "
            "(green: picked, red: missed; grey: the strongest other window) / where each "
            "prediction points in its sequence (rows k; the true windows form the diagonal)",
            tiles, captions, columns=3)
