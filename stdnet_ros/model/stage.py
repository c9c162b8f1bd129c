"""One STDNet stage (model_spec.md §1.2–1.8): encoders, SDM, feature extraction, propagation passes and the
reconstruction head. Shapes: HR (H, W); features at HR/4 (h, w) = (H/4, W/4); B = a batch of frames."""

from dataclasses import dataclass

import torch
from torch import nn

from .blocks import encoder, residual_blocks, upsample_head
from .config import STDNetConfig
from .difference_modules import SpatialDifferenceModule, TemporalDifferenceModule
from .flow_guidance import PairFlows
from .propagation import Frames, propagate


@dataclass
class Encoded:
    """Per-frame outputs of a stage's encoder part, each (B, C, h, w)."""

    guide: torch.Tensor  # guide features R
    weight: torch.Tensor  # SDM weight w in (0, 1)
    anchor: torch.Tensor  # post-extraction features F0 (input of pass 1, source of the temporal differences)
    sigma: torch.Tensor  # spatial difference


@dataclass
class Reconstructed:
    """Per-frame stage outputs."""

    feature: torch.Tensor  # (B, C, h, w) trunk features, passed to the next stage
    depth: torch.Tensor  # (B, 1, H, W) normalised depth
    confidence: torch.Tensor | None  # (B, 1, H, W) logit, None for a single-stage model

    def confidence_logit(self) -> torch.Tensor:
        """The (B, 1, H, W) confidence of a stage of a two-stage model; ValueError for a single-stage one."""
        if self.confidence is None:
            raise ValueError("confidence: a single-stage model computes none")
        return self.confidence


class Stage(nn.Module):
    def __init__(self, config: STDNetConfig, guide_channels: int, extra_channels: int, with_confidence: bool):
        super().__init__()
        c = config.channels
        self.passes = config.passes
        self.guide_encoder = encoder(guide_channels, c, config.encoder_blocks, stride=2)
        self.depth_encoder = encoder(1, c, config.encoder_blocks, stride=1)
        self.sdm = SpatialDifferenceModule(c, config.sdm_rcabs, config.reduction)
        self.extract = residual_blocks(c + extra_channels, c, config.extract_blocks)
        self.tdms = nn.ModuleList(TemporalDifferenceModule(c, config.tdm_rcabs, config.reduction) for _ in self.passes)
        self.trunk = residual_blocks((1 + len(self.passes)) * c, c, config.recon_blocks)
        self.head = upsample_head(c, 2 if with_confidence else 1)

    def encode(self, guide: torch.Tensor, lq4: torch.Tensor, extra: torch.Tensor | None = None) -> Encoded:
        """guide (B, g, H, W), lq4 (B, 1, h, w) normalised depth, extra (B, C, h, w) previous-stage features.
        The depth encoder sees lq4 - 1: the frame's median depth at 0 (normalisation.py)."""
        guide_feat = self.guide_encoder(guide)
        sd, weight, sigma = self.sdm(self.depth_encoder(lq4 - 1.0), guide_feat)
        anchor = self.extract(sd if extra is None else torch.cat([sd, extra], 1))
        return Encoded(guide_feat, weight, anchor, sigma)

    def propagate(
        self,
        index: int,
        feats: Frames,
        anchors: Frames,
        guides: Frames,
        weights: Frames,
        frames,
        num_frames: int,
        flows: PairFlows | None = None,
    ) -> dict[int, torch.Tensor]:
        """Pass ``index`` for the given frames (see propagation.propagate; flows for a flow-guided model)."""
        tdm, direction = self.tdms[index], self.passes[index]
        return propagate(tdm, feats, anchors, guides, weights, direction, frames, num_frames, flows)

    def reconstruct(self, anchor: torch.Tensor, pass_feats: list[torch.Tensor], base: torch.Tensor) -> Reconstructed:
        """Trunk over concat(F0, pass features), head to HR; depth is a residual over ``base`` (B, 1, H, W)
        (residual_base.py); depth and confidence in fp32 under autocast too."""
        feature = self.trunk(torch.cat([anchor, *pass_feats], 1))
        out = self.head(feature).float()
        confidence = out[:, 1:2] if out.shape[1] == 2 else None
        return Reconstructed(feature, out[:, :1] + base, confidence)

    def forward_clip(
        self,
        guide: torch.Tensor,
        lq4: torch.Tensor,
        base: torch.Tensor,
        extra: torch.Tensor | None,
        flows: PairFlows | None = None,
    ):
        """Whole clip at once: guide (N, T, g, H, W), lq4 (N, T, 1, h, w), base (N*T, 1, H, W), extra
        (N, T, C, h, w) or None, flows of the clip's frames for a flow-guided model. Returns (Reconstructed,
        Encoded) with every tensor flattened to (N*T, ...)."""
        n, t = lq4.shape[:2]
        enc = self.encode(guide.flatten(0, 1), lq4.flatten(0, 1), None if extra is None else extra.flatten(0, 1))

        def per_frame(x: torch.Tensor) -> list[torch.Tensor]:
            return list(x.unflatten(0, (n, t)).unbind(1))

        anchors, guides, weights = per_frame(enc.anchor), per_frame(enc.guide), per_frame(enc.weight)
        feats, all_passes = anchors, []
        for index in range(len(self.passes)):
            out = self.propagate(index, feats, anchors, guides, weights, range(t), t, flows)
            feats = [out[i] for i in range(t)]
            all_passes.append(torch.stack(feats, 1).flatten(0, 1))
        return self.reconstruct(enc.anchor, all_passes, base), enc
