"""Contractive autoencoder: reconstruct, and penalise how much the code moves with the input (Rifai et al. 2011, ICML)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.config import setting
from workbench.nn.decoders import ConvDecoder
from workbench.nn.losses import reconstruction_loss


def jacobian_penalty(h: torch.Tensor, x: torch.Tensor, samples: int = 1,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Unbiased Hutchinson estimate of the mean over the batch of ‖∂h_i/∂x_i‖²_F.

    The exact Frobenius norm needs one backward pass per feature (128 for the small CNN) and
    per sample. Instead: for v ~ N(0, I) in feature space, E_v ‖Jᵀv‖² = tr(J Jᵀ) = ‖J‖²_F, and
    Jᵀv is a single vector-Jacobian product, i.e. one backward pass for the whole batch
    (torch.autograd.grad with grad_outputs=v). create_graph=True keeps that pass differentiable
    so the host's one loss.backward() also trains the encoder to contract. We prefer this to a
    finite difference ‖h(x + εu) − h(x)‖²/ε², which is biased by the curvature and by the
    choice of ε, and needs float64-like precision for small ε; the VJP is exact in expectation
    for any network, at the price of a double backward (about 2× the step time here).

    `h` must have been computed from `x` (x.requires_grad); h is (B, D), x is (B, ...).
    With BatchNorm in training mode a feature also depends a little on the other samples of
    the batch; the estimate then includes those O(1/B) cross-sample terms too.
    """
    total = h.new_zeros((), dtype=torch.float32)
    for _ in range(samples):
        v = torch.randn(h.shape, generator=generator, device=h.device, dtype=h.dtype)
        (jtv,) = torch.autograd.grad(h, x, grad_outputs=v, create_graph=True)
        total = total + jtv.float().pow(2).flatten(1).sum(1).mean()
    return total / samples


class ContractiveAutoencoder(Method):
    name = "contractive_autoencoder"
    title = "Contractive autoencoder"
    family = "reconstruction"
    modality = "image"
    summary = "Rebuild each image while keeping the code insensitive to small input changes (‖∂h/∂x‖²)."
    reference = "Rifai et al. 2011, ICML"
    run_defaults = {"batch_size": 128, "lr": 1e-3}
    # The penalty differentiates a gradient (double backward), which PyTorch's fused attention
    # kernels do not support.
    backbone_refusals = {vit: f"contractive_autoencoder differentiates the encoder's Jacobian, which "
                              f"{vit}'s fused attention cannot; use small_cnn, resnet18 or resnet50"
                         for vit in ("vit_tiny", "vit_small")}

    @dataclass
    class Config:
        contraction: float = setting(1e-4, "Weight λ of the contraction penalty ‖∂h/∂x‖²_F.",
                                     min=0.0, max=100.0, label="Contraction weight λ")
        samples: int = setting(1, "Random projections per step for the Jacobian estimate "
                                  "(more: less noise, one extra backward each).", min=1, max=16)
        loss: str = setting("bce", "Reconstruction loss: bce suits [0, 1] images, mse is plain L2.",
                            choices=("bce", "mse"))
        decoder_width: int = setting(64, "Channels of the decoder.", min=8, max=1024)

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        self.decoder = ConvDecoder(feat_dim, data.input_shape, cfg.decoder_width)

    def training_step(self, batch: Batch) -> StepOutput:
        x = batch.x.detach().clone().requires_grad_(True)
        h = self.backbone(x)
        x_hat = self.decoder(h)
        rec = reconstruction_loss(x_hat, batch.x, self.cfg.loss)
        logs = {"reconstruction": rec.detach()}
        loss = rec
        if self.cfg.contraction > 0:  # λ = 0 is a plain autoencoder: skip the double backward
            contraction = jacobian_penalty(h, x, self.cfg.samples)
            loss = rec + self.cfg.contraction * contraction
            logs["contraction"] = contraction.detach()
        with torch.no_grad():
            logs["mse"] = F.mse_loss(x_hat.float(), batch.x.float())
        return StepOutput(loss, logs)

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        x_hat = self.decoder(self.backbone(x))
        errors = ((x_hat - x) ** 2).flatten(1).mean(1).tolist()
        captions = ["input"] * len(x) + [f"recon · mse {e:.3f}" for e in errors]
        return {"reconstructions": Preview.from_tensor("Inputs / reconstructions",
                                                       torch.cat([x, x_hat]), captions, columns=len(x))}
