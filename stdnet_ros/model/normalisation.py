"""Scale-free depth: each frame's LR depth is divided by a robust scale of that frame alone.

Rule (``NORMALISATION``, stored in every weights file): the scale of a frame is the lower median of its valid LR
pixels (finite and > 0), in metres; a frame without any valid pixel gets 1 m (its output is all NaN anyway). The
network works on depth / scale and its output is multiplied back by the same scale. Because the scale depends on
the frame's own LR only, streaming stays exact and causal, and multiplying a frame's depth by k multiplies the
output by k: a tabletop at 0.5 m and a hall at 20 m look alike to the network.
"""

import torch

from ..depth.invalid_depth import valid_mask

NORMALISATION = "frame-lr-median-v1"
EMPTY_FRAME_SCALE_M = 1.0


def frame_scale(lr_depth_m: torch.Tensor) -> torch.Tensor:
    """(B, 1, h, w) metres (invalid: 0, NaN, inf, < 0) -> (B, 1, 1, 1) metres: the lower median of the valid pixels.

    Computed with a sort and a gather (no data-dependent shapes), so it runs on every device and exports to ONNX.
    """
    valid = valid_mask(lr_depth_m).flatten(1)
    values = torch.where(valid, lr_depth_m.flatten(1), torch.full_like(lr_depth_m.flatten(1), float("inf")))
    count = valid.sum(1, keepdim=True)
    middle = ((count - 1).clamp_min(0) // 2).to(torch.int64)
    median = values.sort(1).values.gather(1, middle)
    scale = torch.where(count > 0, median, torch.full_like(median, EMPTY_FRAME_SCALE_M))
    return scale.view(-1, 1, 1, 1)
