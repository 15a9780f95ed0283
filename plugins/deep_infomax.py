"""Deep InfoMax: maximise the mutual information between an image's global feature and its
local feature-map vectors, against the local features of other images (Hjelm et al. 2019,
arXiv:1808.06670)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.augment import two_views
from workbench.config import setting
from workbench.views import ViewSettings, view_config


def pair_scores(g: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """S[b, c, i] = g_b · l_{c, i}: every global (B, D) against every local (B, D, L)."""
    return torch.einsum("bd,cdl->bcl", g.float(), l.float())


def dim_loss(g: torch.Tensor, l: torch.Tensor, estimator: str = "infonce") -> torch.Tensor:
    """DIM's local objective for globals g (B, D) and local maps l (B, D, L).

    Positive pairs: (g_b, l_{b,i}); negatives for g_b: the local vectors of every other image.
    "jsd": the Jensen-Shannon estimator (softplus(−T⁺) + softplus(T⁻), averaged);
    "infonce": each positive is classified against all of g_b's negatives, as in the DIM
    code, with the negatives' log-sum-exp shared by every location of an image.
    """
    S = pair_scores(g, l)
    B, _, L = S.shape
    eye = torch.eye(B, dtype=torch.bool, device=S.device)
    positive = S[eye]  # (B, L): S[b, b, :]
    if estimator == "jsd":
        negative = S[~eye]  # (B·(B−1), L)
        return F.softplus(-positive).mean() + F.softplus(negative).mean()
    if estimator != "infonce":
        raise ValueError(f"unknown estimator {estimator!r}; use infonce or jsd")
    neg = S.masked_fill(eye.unsqueeze(-1), float("-inf")).flatten(1)  # (B, B·L)
    neg_lse = torch.logsumexp(neg, dim=1, keepdim=True)  # (B, 1)
    return (torch.logaddexp(positive, neg_lse) - positive).mean()


def conv_blocks(backbone: nn.Module) -> list[nn.Module]:
    """The modules whose outputs are the backbone's convolutional block outputs, in order.

    torchvision ResNets: layer1..layer4. Plain conv stacks (small_cnn): every ReLU that
    follows a Conv2d. An empty list means the backbone has no spatial feature maps.
    """
    for m in backbone.modules():
        if all(hasattr(m, f"layer{i}") for i in range(1, 5)):
            return [m.layer1, m.layer2, m.layer3, m.layer4]
    blocks, seen_conv = [], False
    for m in backbone.modules():
        if isinstance(m, nn.Conv2d):
            seen_conv = True
        elif isinstance(m, nn.ReLU) and seen_conv:
            blocks.append(m)
            seen_conv = False
    return blocks


class DeepInfoMax(Method):
    name = "deep_infomax"
    title = "Deep InfoMax (local)"
    family = "joint-embedding"
    modality = "image"
    summary = "Make the global feature recognise its own image's local features among others'."
    reference = "Hjelm et al. 2019, arXiv:1808.06670"
    run_defaults = {"batch_size": 128, "lr": 1e-3}
    backbone_refusals = {
        "mlp": "deep_infomax needs a convolutional backbone with local feature maps,"
               " and mlp has none; use small_cnn or resnet18",
        **{vit: f"deep_infomax needs a convolutional backbone with local feature maps, and {vit} "
                f"is a transformer; use small_cnn, resnet18 or resnet50" for vit in ("vit_tiny", "vit_small")},
    }

    @dataclass
    class Config(ViewSettings):
        estimator: str = setting("infonce", "Mutual-information estimator: infonce (noise "
                                            "contrastive) or jsd (Jensen-Shannon).",
                                 choices=("infonce", "jsd"))
        local_layer: str = setting("penultimate", "Which conv block gives the local features: "
                                                  "the last one, or the one before it (finer "
                                                  "grid, and the global feature is more than "
                                                  "its average).",
                                   choices=("penultimate", "last"), label="Local layer")
        score_dim: int = setting(128, "Size of the space where global and local features are "
                                      "compared.", min=2, max=4096, label="Score size")
        hidden: int = setting(256, "Hidden units of the global and local encoders.", min=2,
                              max=8192)
        across_views: bool = setting(True, "Take the global feature from one augmented view and "
                                           "the local features from another (AMDIM's extension); "
                                           "off: both from the same image, as in the paper.",
                                     label="Across two views")

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        blocks = conv_blocks(backbone)
        if len(blocks) < 2:
            raise ValueError("deep_infomax needs a convolutional backbone with local feature "
                             "maps; pick small_cnn or resnet18")
        layer = blocks[-1] if cfg.local_layer == "last" else blocks[-2]
        self._local: dict[str, torch.Tensor] = {}
        store = self._local  # the hook keeps the dict, not the method: no reference cycle
        layer.register_forward_hook(lambda module, inputs, output: store.__setitem__("map", output))
        channels = self._probe_channels(data.input_shape)
        h = cfg.hidden
        # φ_local as 1×1 convs (an MLP per location) and φ_global as an MLP, each with a
        # linear shortcut, as in the paper's encode-and-dot-product critic
        self.local_head = nn.Conv2d(channels, cfg.score_dim, 1)
        self.local_mlp = nn.Sequential(nn.Conv2d(channels, h, 1), nn.ReLU(inplace=True),
                                       nn.Conv2d(h, cfg.score_dim, 1))
        self.global_head = nn.Linear(feat_dim, cfg.score_dim)
        self.global_mlp = nn.Sequential(nn.Linear(feat_dim, h), nn.ReLU(inplace=True),
                                        nn.Linear(h, cfg.score_dim))
        self.views = view_config(cfg, data.channels)

    @torch.no_grad()
    def _probe_channels(self, shape: tuple[int, ...]) -> int:
        was = self.backbone.training
        self.backbone.eval()  # eval: a dry run must not touch BatchNorm statistics
        try:
            self.backbone(torch.zeros(2, *shape))
        finally:
            self.backbone.train(was)
        return self._local.pop("map").shape[1]

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores-space globals g (B, D) and local maps l (B, D, h, w)."""
        y = self.backbone(x)
        fmap = self._local.pop("map")
        g = self.global_head(y) + self.global_mlp(y)
        return g, self.local_head(fmap) + self.local_mlp(fmap)

    def training_step(self, batch: Batch) -> StepOutput:
        est = self.cfg.estimator
        if self.cfg.across_views:
            g, l = self.features(torch.cat(two_views(batch.x, self.views)))
            (g1, g2), (l1, l2) = g.chunk(2), l.flatten(2).chunk(2)
            # each view's global must recognise the other view's local features
            loss = (dim_loss(g1, l2, est) + dim_loss(g2, l1, est)) / 2
            g, l = g1, l2
        else:
            g, l = self.features(batch.x)
            l = l.flatten(2)
            loss = dim_loss(g, l, est)
        with torch.no_grad():
            S = pair_scores(g, l).mean(-1)  # (B, B): image-level agreement
            acc = (S.argmax(1) == torch.arange(len(S), device=S.device)).float().mean()
        return StepOutput(loss, {"match_acc": acc})

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        y = self.backbone(x)
        self._local.pop("map", None)  # the hook also fires here; drop the map at once
        return y

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        n = len(x)
        g, lmap = self.features(x)
        S = pair_scores(g, lmap.flatten(2))  # (n, n, h·w)
        # how strongly each location of image b says "I belong to this image": the sigmoid
        # of its score with its own global feature, laid over the image
        own = torch.sigmoid(S[torch.arange(n), torch.arange(n)]).view(n, 1, *lmap.shape[-2:])
        heat = F.interpolate(own, size=x.shape[-2:], mode="nearest")
        rgb = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        overlay = 0.5 * rgb.mean(1, keepdim=True) + 0.5 * torch.cat(
            [heat, torch.zeros_like(heat), 1 - heat], dim=1)
        match = S.mean(-1).argmax(1)  # whose local features each global likes best
        captions = [f"image {i}" for i in range(n)] + \
                   [f"{'✓' if m == i else '✗'} global {i} ↔ locals of {m}"
                    for i, m in enumerate(match.tolist())]
        return {"locals": Preview.from_tensor(
            "Image / agreement of each location with its own global feature (red = high)",
            torch.cat([rgb, overlay]), captions, columns=n)}
