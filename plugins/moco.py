"""MoCo v2: contrast each query with its momentum-encoded key and a queue of past keys
(He et al. 2020, arXiv:1911.05722; Chen et al. 2020, arXiv:2003.04297)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.augment import two_views
from workbench.config import setting
from workbench.distributed import gather
from workbench.nn.heads import projection_head
from workbench.nn.momentum import ema_update, frozen_copy
from workbench.views import ViewSettings, view_config


def moco_loss(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float,
              mask: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE of MoCo: query i's positive is key i, its negatives are the queued keys.

    q, k: (B, D); queue: (K, D), rows already L2-normalised; mask: optional (B, K) bool,
    True where a queued key must not count as a negative (an older key of the same image).
    The minimum is reached when every query matches its key and is orthogonal to the queue.
    """
    q = F.normalize(q.float(), dim=1)
    k = F.normalize(k.float(), dim=1)
    positive = (q * k).sum(1, keepdim=True)  # (B, 1)
    negative = q @ queue.float().T  # (B, K)
    if mask is not None:
        negative = negative.masked_fill(mask, float("-inf"))
    logits = torch.cat([positive, negative], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


def shuffled_forward(net: nn.Module, x: torch.Tensor, splits: int) -> torch.Tensor:
    """Run net on a shuffled batch in `splits` groups, then restore the order.

    MoCo's shuffling BN on one device (as the authors' single-GPU CIFAR demo does with a
    split BatchNorm): each group gets its own BatchNorm statistics, so a key is not
    normalised together with the same images as its query, and the network cannot find its
    positive by a batch fingerprint instead of by content.
    """
    if splits <= 1 or len(x) < 2 * splits:
        return net(x)
    order = torch.randperm(len(x), device=x.device)
    out = torch.cat([net(chunk) for chunk in x[order].chunk(splits)])
    return out[torch.argsort(order)]


class MoCo(Method):
    name = "moco"
    title = "MoCo v2 (momentum contrast)"
    family = "joint-embedding"
    modality = "image"
    summary = "Match each view to its momentum-encoded twin among a queue of past keys."
    reference = "He et al. 2020, arXiv:1911.05722; Chen et al. 2020, arXiv:2003.04297"
    run_defaults = {"batch_size": 128, "lr": 1e-3}

    @dataclass
    class Config(ViewSettings):
        queue_size: int = setting(1024, "Negatives kept in the queue (K); clamped to half the "
                                        "training set.", min=16, max=262144, label="Queue size")
        momentum: float = setting(0.99, "EMA momentum m of the key encoder (the paper's 0.999 "
                                        "suits long runs).", min=0.0, max=1.0)
        temperature: float = setting(0.2, "Softmax temperature of InfoNCE.", min=0.0, max=10.0,
                                     exclusive_min=True)
        proj_dim: int = setting(128, "Output size of the MLP head.", min=2, max=4096,
                                label="Projection size")
        proj_hidden: int = setting(512, "Hidden size of the MLP head.", min=2, max=8192,
                                   label="Projection hidden size")
        bn_splits: int = setting(4, "Groups the key batch is shuffled into for BatchNorm "
                                    "(shuffle-BN on one device; 1 = off).", min=1, max=64,
                                 label="Shuffle-BN groups")

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        self.head = projection_head(feat_dim, cfg.proj_hidden, cfg.proj_dim)
        self.key_encoder = frozen_copy(nn.Sequential(backbone, self.head))
        self.views = view_config(cfg, data.channels)
        # A queue longer than the data would hold several keys of one image at once.
        self.queue_size = max(16, min(cfg.queue_size, data.train_size // 2))
        queue = F.normalize(torch.randn(self.queue_size, cfg.proj_dim), dim=1)
        self.register_buffer("queue", queue)
        self.register_buffer("queue_index", torch.full((self.queue_size,), -1, dtype=torch.long))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, index: torch.Tensor) -> None:
        """Overwrite the oldest keys with this batch's (a ring buffer, any batch size)."""
        K = self.queue_size
        keys, index = keys[-K:], index[-K:]
        slots = (self.queue_ptr + torch.arange(len(keys), device=keys.device)) % K
        self.queue[slots] = F.normalize(keys.float(), dim=1)
        self.queue_index[slots] = index.to(self.queue_index.device)
        self.queue_ptr.copy_((self.queue_ptr + len(keys)) % K)

    def training_step(self, batch: Batch) -> StepOutput:
        v1, v2 = two_views(batch.x, self.views)
        q = self.head(self.backbone(v1))
        with torch.no_grad():
            k = shuffled_forward(self.key_encoder, v2, self.cfg.bn_splits)
        # On a small dataset the queue may still hold an older key of the query's own image;
        # it is not a negative, so it is masked out.
        mask = batch.index.view(-1, 1) == self.queue_index.view(1, -1)
        # a copy: the queue is overwritten below, and backward still needs today's negatives
        loss = moco_loss(q, k, self.queue.clone(), self.cfg.temperature, mask)
        with torch.no_grad():
            positive = F.cosine_similarity(q.float(), k.float()).mean()
        # after the loss: this batch's keys (every rank's, in global order) serve later ones
        self.enqueue(gather(k.detach()), gather(batch.index))
        return StepOutput(loss, {"positive_cosine": positive})

    def on_step_end(self, step: int, total_steps: int) -> None:
        ema_update(self.key_encoder, nn.ModuleList([self.backbone, self.head]), self.cfg.momentum)

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        v1, v2 = two_views(x, self.views)
        q = F.normalize(self.head(self.backbone(v1)), dim=1)
        k = F.normalize(self.key_encoder(v2), dim=1)
        # where the positive key ranks among the queue for each query (1 = the top)
        rank = 1 + (q @ self.queue.T > (q * k).sum(1, keepdim=True)).sum(1)
        captions = [f"image {i}" for i in range(len(x))] + ["query view"] * len(x) + \
                   [f"{'✓' if r == 1 else '✗'} key ranks {r} of {self.queue_size + 1}"
                    for r in rank.tolist()]
        return {"views": Preview.from_tensor("Image / query view / key view", torch.cat([x, v1, v2]),
                                             captions, columns=len(x))}
