"""STDNet: two-stage (hourglass) video depth super-resolution, as the official code builds it.

Callers pass and receive metres; inside, each frame's depth is divided by its own scale (normalisation.py).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from ..depth.invalid_depth import fill_invalid
from .config import STDNetConfig, preset_config
from .flow_guidance import PairFlows
from .normalisation import frame_scale
from .residual_base import residual_base
from .stage import Reconstructed, Stage


@dataclass
class ForwardAux:
    """Training side outputs, per stage, each (N, T, C, h, w)."""

    sigmas: list[torch.Tensor]  # spatial differences
    anchors: list[torch.Tensor]  # post-extraction features; temporal differences are |a_{t+k} - a_t|
    scale_m: torch.Tensor  # (N, T, 1, 1, 1) each frame's depth scale in metres (the loss works in these units)


class STDNet(nn.Module):
    def __init__(self, config: STDNetConfig, preset: str = ""):
        super().__init__()
        self.config = config
        self.preset = preset
        two = config.stages == 2
        stages = [Stage(config, guide_channels=3, extra_channels=0, with_confidence=two)]
        if two:
            stages.append(Stage(config, guide_channels=2, extra_channels=config.channels, with_confidence=True))
        # an nn.ModuleList (registered parameters), typed as what it holds
        self.stages = cast(Sequence[Stage], nn.ModuleList(stages))

    # --- per-frame pieces, shared with the streaming engine (B = a batch of frames) ---
    def normalised_lr(self, lr_depth_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1, H/s, W/s) metres, invalid anywhere -> lq4 (B, 1, H/4, W/4) filled, divided by the frame's scale,
        nearest-repeated; and that scale (B, 1, 1, 1) in metres."""
        repeat = self.config.scale // 4
        scale_m = frame_scale(lr_depth_m)
        lq = fill_invalid(lr_depth_m) / scale_m
        return lq.repeat_interleave(repeat, -2).repeat_interleave(repeat, -1), scale_m

    def residual_base(self, lq4: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) normalised depth every stage's output is a residual over (config.residual_base)."""
        return residual_base(self.config.residual_base, lq4, rgb)

    @staticmethod
    def next_stage_guide(rec: Reconstructed) -> torch.Tensor:
        """Stage 2 is guided by stage 1's depth and confidence, (B, 2, H, W)."""
        return torch.cat([rec.depth, rec.confidence_logit()], 1)

    def fuse(self, recs: list[Reconstructed]) -> torch.Tensor:
        """(B, 1, H, W) normalised depth: per-pixel softmax over the stages' confidences (a single stage as is)."""
        if len(recs) == 1:
            return recs[0].depth
        weights = torch.softmax(torch.cat([r.confidence_logit() for r in recs], 1), dim=1)
        return (weights * torch.cat([r.depth for r in recs], 1)).sum(1, keepdim=True)

    # --- offline whole-clip forward ---
    def check_inputs(self, lr_depth_m: torch.Tensor, rgb: torch.Tensor) -> None:
        s = self.config.scale
        if lr_depth_m.dim() != 5 or lr_depth_m.shape[2] != 1:
            raise ValueError(f"lr_depth: expected shape (N, T, 1, h, w), got {tuple(lr_depth_m.shape)}")
        n, t, _, h, w = lr_depth_m.shape
        expected = (n, t, 3, h * s, w * s)
        if tuple(rgb.shape) != expected:
            raise ValueError(f"rgb: expected shape {expected} (lr_depth (h, w) x scale {s}), got {tuple(rgb.shape)}")
        if (h * s) % 4 or (w * s) % 4:
            raise ValueError(f"rgb: height and width must be multiples of 4, got {h * s}x{w * s}")

    def forward(self, lr_depth_m: torch.Tensor, rgb: torch.Tensor, return_aux: bool = False):
        """lr_depth_m (N, T, 1, h, w) metres (0/NaN/inf invalid), rgb (N, T, 3, H, W) in [0, 1]
        -> (N, T, 1, H, W) metres; with return_aux also the ForwardAux of the training losses."""
        self.check_inputs(lr_depth_m, rgb)
        n, t = lr_depth_m.shape[:2]
        lq4, scale_m = self.normalised_lr(lr_depth_m.flatten(0, 1))
        base = self.residual_base(lq4, rgb.flatten(0, 1))
        lq4 = lq4.unflatten(0, (n, t))
        flows = PairFlows.of_clip(rgb) if self.config.flow_guided else None
        recs: list[Reconstructed] = []
        encs = []
        for stage in self.stages:
            if recs:
                guide = self.next_stage_guide(recs[-1]).unflatten(0, (n, t))
                rec, enc = stage.forward_clip(guide, lq4, base, recs[-1].feature.unflatten(0, (n, t)), flows)
            else:
                rec, enc = stage.forward_clip(rgb, lq4, base, None, flows)
            recs.append(rec)
            encs.append(enc)
        depth_m = (self.fuse(recs) * scale_m).unflatten(0, (n, t))
        if not return_aux:
            return depth_m
        return depth_m, ForwardAux(
            sigmas=[e.sigma.unflatten(0, (n, t)) for e in encs],
            anchors=[e.anchor.unflatten(0, (n, t)) for e in encs],
            scale_m=scale_m.unflatten(0, (n, t)),
        )


def build_model(preset: str, **overrides) -> STDNet:
    """A freshly initialised model of a preset ("stdnet", "stdnet-lite") with config overrides, e.g.
    ``build_model("stdnet-lite", scale=8, directions="causal")``."""
    return STDNet(preset_config(preset, **overrides), preset=preset)
