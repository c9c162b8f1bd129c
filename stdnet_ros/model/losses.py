"""Training loss: Charbonnier reconstruction plus the difference regularisation (model_spec.md §2).

L = L_rec + beta * (alpha1 * L_sd + alpha2 * L_td), alpha1 = alpha2 = 0.5, beta = 0.01, all on depth divided by
each frame's scale (normalisation.py, carried in ForwardAux.scale_m). Pixels whose ground truth is invalid (0, NaN,
inf) are left out of every term. L_rec is the paper's Charbonnier or an MSE (RECONSTRUCTIONS): the product is
judged by RMSE, which the error at depth edges dominates; an L1-type loss fits the many smooth pixels first.
Optionally + gamma * L_tc, a flow-free temporal-consistency term: the L1 of the change of the signed error between
consecutive frames at the same pixel, |e_t - e_t-1| with e = pred - GT (TEPE measures that change along the flow).
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..depth.invalid_depth import valid_mask
from .network import ForwardAux

CHARBONNIER_EPS = 1e-12
RECONSTRUCTIONS = ("charbonnier", "mse")
SD_STAGE_WEIGHT = 0.2  # the official code weighs each stage's L_sd by 0.2


class DifferenceProjection(nn.Module):
    """A C-channel difference map at HR/4 -> one HR map: 1x1 conv C -> 1, bicubic x4, scalar gain (Up_Diff)."""

    def __init__(self, channels: int):
        super().__init__()
        self.project = nn.Conv2d(channels, 1, 1, bias=False)
        self.gain = nn.Conv2d(1, 1, 1, bias=False)

    def forward(self, diff: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, 1, 4h, 4w)."""
        return self.gain(F.interpolate(self.project(diff), scale_factor=4, mode="bicubic", align_corners=False))


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp_min(1)


class STDNetLoss(nn.Module):
    """Holds the three difference projections (sigma, phi, phi-hat, shared by the stages; 195 parameters at C=64).

    L_sd, as in the paper, weighs the per-pixel error by the spatial difference minus its per-frame minimum:
    W = u - min_frame(u) + 1 with u = ELU(Up(sigma)). The official code takes the minimum with a shape that
    broadcasts every frame's map against every other frame's minimum; here each frame uses its own minimum.
    The "+1" and the ELU of the official code are kept so the weight never vanishes.
    L_td asks Up(phi_t) to match |D_GT,t+1 - D_GT,t| and Up(phi-hat_t) to match |D_GT,t+2 - D_GT,t| (L1).
    """

    def __init__(
        self,
        channels: int,
        reconstruction: str = "charbonnier",
        alpha_sd: float = 0.5,
        alpha_td: float = 0.5,
        beta: float = 0.01,
        gamma_tc: float = 0.0,
    ):
        super().__init__()
        if reconstruction not in RECONSTRUCTIONS:
            raise ValueError(f"reconstruction: expected one of {RECONSTRUCTIONS}, got {reconstruction!r}")
        self.sigma_proj = DifferenceProjection(channels)
        self.phi_proj = DifferenceProjection(channels)
        self.phi_hat_proj = DifferenceProjection(channels)
        self.reconstruction = reconstruction
        self.alpha_sd, self.alpha_td, self.beta, self.gamma_tc = alpha_sd, alpha_td, beta, gamma_tc

    def forward(self, pred_m: torch.Tensor, gt_m: torch.Tensor, aux: ForwardAux) -> dict[str, torch.Tensor]:
        """pred_m, gt_m (N, T, 1, H, W) metres; returns the total and each term."""
        valid = valid_mask(gt_m).to(pred_m.dtype)
        gt = torch.where(valid > 0, gt_m, torch.zeros_like(gt_m)) / aux.scale_m
        pred = pred_m / aux.scale_m
        signed = pred - gt
        err = signed.abs()
        if self.reconstruction == "mse":
            rec = masked_mean(err**2, valid)
        else:
            rec = masked_mean(torch.sqrt(err**2 + CHARBONNIER_EPS), valid)
        sd = err.new_zeros(()) + sum(SD_STAGE_WEIGHT * self._spatial_term(s, err, valid) for s in aux.sigmas)
        td = err.new_zeros(()) + sum(self._temporal_term(a, gt, valid) for a in aux.anchors)
        total = rec + self.beta * (self.alpha_sd * sd + self.alpha_td * td)
        if self.gamma_tc:
            total = total + self.gamma_tc * masked_mean(
                (signed[:, 1:] - signed[:, :-1]).abs(), valid[:, 1:] * valid[:, :-1]
            )
        return {"total": total, "rec": rec, "sd": sd, "td": td}

    def _spatial_term(self, sigma: torch.Tensor, err: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        u = F.elu(self.sigma_proj(sigma.flatten(0, 1))).unflatten(0, sigma.shape[:2])
        weight = u - u.amin(dim=(-2, -1), keepdim=True) + 1
        return masked_mean(weight * err, valid)

    def _temporal_term(self, anchor: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        total = anchor.new_zeros(())
        for k, proj in ((1, self.phi_proj), (2, self.phi_hat_proj)):
            if anchor.shape[1] <= k:
                continue
            diff = (anchor[:, k:] - anchor[:, :-k]).abs()
            pred = proj(diff.flatten(0, 1)).unflatten(0, diff.shape[:2])
            target = (gt[:, k:] - gt[:, :-k]).abs()
            total = total + masked_mean((pred - target).abs(), valid[:, k:] * valid[:, :-k])
        return total
