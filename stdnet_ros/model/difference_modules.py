"""The spatial-difference (SDM) and temporal-difference (TDM) modules of STDNet (model_spec.md §1.4–1.6).

All tensors are feature maps (B, C, h, w) at HR/4.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import LRELU_SLOPE, ResidualGroup, conv1x1, conv3x3, kaiming, lrelu
from .deform import DEFORM_IMPLEMENTATIONS

KERNEL_TAPS = 9  # 3x3 dynamic filter / deformable kernel


def spatial_difference(features: torch.Tensor) -> torch.Tensor:
    """sigma = |F - up(down(F))| with x2 bilinear down- and upsampling (align_corners=False)."""
    h, w = features.shape[-2:]
    coarse = F.interpolate(features, size=(h // 2, w // 2), mode="bilinear", align_corners=False)
    return (features - F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)).abs()


def dynamic_filter(features: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Per-pixel depthwise 3x3 filter: features (B, C, h, w), kernels (B, C*9, h, w), unnormalised."""
    b, c, h, w = features.shape
    patches = F.unfold(features, 3, padding=1).view(b, c, KERNEL_TAPS, h, w)
    return (patches * kernels.view(b, c, KERNEL_TAPS, h, w)).sum(dim=2)


class SpatialDifferenceModule(nn.Module):
    """SDM: the depth features' spatial difference steers how RGB (guide) features are filtered and weighted."""

    def __init__(self, channels: int, num_rcabs: int, reduction: int):
        super().__init__()
        # The official generator starts with a LeakyReLU on sigma >= 0, a no-op that is left out here.
        self.kernel_generator = nn.Sequential(
            conv3x3(channels, channels),
            ResidualGroup(channels, num_rcabs, reduction),
            lrelu(),
            conv1x1(channels, channels * KERNEL_TAPS),
        )
        self.weight_encoder = nn.Sequential(conv3x3(2, channels), nn.Sigmoid())
        self.beta = nn.Parameter(torch.tensor(0.1))
        self.fuse = nn.Sequential(ResidualGroup(2 * channels, num_rcabs, reduction), conv1x1(2 * channels, channels))

    def forward(self, depth_feat: torch.Tensor, guide_feat: torch.Tensor):
        """Returns (F_sd, w, sigma): fused features, the C-channel guide weight in (0, 1), the spatial difference."""
        sigma = spatial_difference(depth_feat)
        filtered = dynamic_filter(guide_feat, self.kernel_generator(sigma))
        weight = self.weight_encoder(torch.cat([sigma.mean(1, keepdim=True), sigma.amax(1, keepdim=True)], 1))
        guide = weight * guide_feat + self.beta * filtered
        return self.fuse(torch.cat([depth_feat, guide], 1)), weight, sigma


class TemporalDifferenceModule(nn.Module):
    """TDM: a temporal difference map drives one modulated deformable conv that aligns a neighbour frame's depth
    and guide features to the current frame; the aligned features are fused with the current ones."""

    def __init__(self, channels: int, num_rcabs: int, reduction: int):
        super().__init__()
        self.diff_conv = conv3x3(channels, channels)
        self.squeeze = conv1x1(2 * channels, channels)
        # 2*9 offsets (torchvision's interleaved dy, dx per tap) and 9 mask logits; zero init: offset 0, mask 0.5.
        self.offset_mask = conv3x3(channels, 3 * KERNEL_TAPS)
        nn.init.zeros_(self.offset_mask.weight)
        nn.init.zeros_(self.offset_mask.bias)  # type: ignore[arg-type]  # conv3x3 always has a bias
        self.dcn_weight = nn.Parameter(torch.empty(channels, channels, 3, 3))
        nn.init.kaiming_normal_(self.dcn_weight, a=LRELU_SLOPE, mode="fan_in", nonlinearity="leaky_relu")
        self.dcn_bias = nn.Parameter(torch.zeros(channels))
        self.deform = "grid_sample"  # a key of DEFORM_IMPLEMENTATIONS (the bench compares them)
        self.depth_conv = conv3x3(channels, channels)
        # A pass sums the TDM outputs of two neighbours: each starts at half gain, so a pass keeps the magnitude.
        self.fuse = nn.Sequential(
            ResidualGroup(3 * channels, num_rcabs, reduction), kaiming(conv1x1(3 * channels, channels), 0.5)
        )

    def forward(self, current, neighbour, difference, neighbour_guide, current_weight, flow=None) -> torch.Tensor:
        """current, neighbour: features of frames t and n; difference: |F0_n - F0_t| (F0_n warped along the flow
        when there is one); neighbour_guide: guide features of n; current_weight: the SDM weight of t. All
        (B, C, h, w). flow: None, or (B, 2, h, w) (dx, dy) from t to n in feature pixels, which every tap's offset
        is added to (flow_guidance.py)."""
        om = self.offset_mask(self.squeeze(torch.cat([self.diff_conv(difference), current], 1)))
        offset = om[:, : 2 * KERNEL_TAPS]
        if flow is not None:  # torchvision's offsets are (dy, dx) per tap
            offset = offset + flow.flip(1).repeat(1, KERNEL_TAPS, 1, 1).to(offset.dtype)
        mask = torch.sigmoid(om[:, 2 * KERNEL_TAPS :])
        # The same offsets, mask and weights sample the neighbour's depth and guide features: one batched call.
        sampled = DEFORM_IMPLEMENTATIONS[self.deform](
            torch.cat([neighbour, neighbour_guide], 0),
            offset.repeat(2, 1, 1, 1),
            mask.repeat(2, 1, 1, 1),
            self.dcn_weight,
            self.dcn_bias,
        )
        depth_aligned, guide_aligned = sampled.chunk(2, 0)
        depth_branch = self.depth_conv(F.leaky_relu(depth_aligned, LRELU_SLOPE))
        return self.fuse(torch.cat([current, depth_branch, current_weight * guide_aligned], 1))


def use_deform(model: nn.Module, name: str) -> None:
    """Make every TDM of ``model`` run the deformable-conv implementation ``name`` (a key of DEFORM_IMPLEMENTATIONS)."""
    if name not in DEFORM_IMPLEMENTATIONS:
        raise ValueError(f"deform: expected one of {sorted(DEFORM_IMPLEMENTATIONS)}, got {name!r}")
    for module in model.modules():
        if isinstance(module, TemporalDifferenceModule):
            module.deform = name
