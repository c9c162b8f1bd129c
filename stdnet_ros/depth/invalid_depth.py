"""Invalid depth handling shared by the network input and every output: 0, NaN, inf and negatives are invalid.

Depth tensors are (B, 1, h, w) in metres. Everything stays on the tensor's device (no host sync).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F


def valid_mask(depth_m: torch.Tensor) -> torch.Tensor:
    """Boolean mask of valid depth: finite and > 0."""
    return torch.isfinite(depth_m) & (depth_m > 0)


def fill_invalid(depth_m: torch.Tensor) -> torch.Tensor:
    """(B, 1, h, w) depth with every invalid pixel filled by push-pull interpolation of the valid ones.

    Push: a pyramid of 2x2 sums of valid values and of valid counts. Pull: from the coarsest level down, each
    level keeps its own valid mean where it has support and takes the coarser level's value elsewhere.
    Valid pixels keep their exact value. An image without any valid pixel becomes all 0.
    """
    valid = valid_mask(depth_m)
    weight = valid.to(depth_m.dtype)
    total = torch.where(valid, depth_m, torch.zeros_like(depth_m))
    levels = [(total, weight)]
    for _ in range(math.ceil(math.log2(max(depth_m.shape[-2:])))):
        total = F.avg_pool2d(total, 2, ceil_mode=True, divisor_override=1)
        weight = F.avg_pool2d(weight, 2, ceil_mode=True, divisor_override=1)
        levels.append((total, weight))
    filled = total / weight.clamp_min(1e-12)  # the coarsest level
    for total, weight in reversed(levels[:-1]):
        mean = total / weight.clamp_min(1e-12)
        coarse = F.interpolate(filled, scale_factor=2, mode="nearest")[..., : mean.shape[-2], : mean.shape[-1]]
        filled = torch.where(weight > 0, mean, coarse)
    return torch.where(valid, depth_m, filled)


def mask_unsupported(hr_depth_m: torch.Tensor, lr_valid: torch.Tensor, scale: int) -> torch.Tensor:
    """NaN where the HR pixel's LR pixel (the s x s block it falls in) was invalid, or the output is not > 0."""
    support = lr_valid.repeat_interleave(scale, -2).repeat_interleave(scale, -1)
    keep = support & valid_mask(hr_depth_m)
    return torch.where(keep, hr_depth_m, torch.full_like(hr_depth_m, float("nan")))


def valid_array(depth_m: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`valid_mask` for arrays on the host."""
    return np.isfinite(depth_m) & (depth_m > 0)


def fill_invalid_array(depth_m: np.ndarray) -> np.ndarray:
    """(h, w) float32 numpy depth in metres with invalid pixels filled by :func:`fill_invalid`."""
    return fill_invalid(torch.from_numpy(np.asarray(depth_m, np.float32))[None, None])[0, 0].numpy()


def outside_range_to_nan(depth_m: np.ndarray, min_m: float, max_m: float) -> np.ndarray:
    """(H, W) metres with depths below ``min_m`` or (when ``max_m`` > 0) above ``max_m`` set to NaN, as a new
    array when anything changes; ``max_m`` 0 means no upper limit (the node's min_depth / max_depth)."""
    outside = depth_m < min_m
    if max_m > 0:
        outside |= depth_m > max_m
    if not outside.any():
        return depth_m
    return np.where(outside, np.float32(np.nan), depth_m).astype(depth_m.dtype, copy=False)
