"""FLOP accounting of the streaming per-frame step (convolutions, matmuls and deformable convolutions)."""
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from .network import STDNet


def _deform_conv2d_flops(input_shape, weight_shape, *args, out_shape=None, **kwargs) -> int:
    """2 * C_out * C_in/groups * kh * kw per output pixel, as for a dense convolution (sampling not counted)."""
    c_out, c_in_per_group, kh, kw = weight_shape
    n, _, h, w = out_shape
    return 2 * n * h * w * c_out * c_in_per_group * kh * kw


def streaming_flops_per_frame(model: STDNet, height: int, width: int) -> int:
    """FLOPs of one steady-state streaming step (one new frame, every pass finalising one frame) at H x W output."""
    from ..streaming import StreamingEngine  # the engine imports the model package

    engine = StreamingEngine(model, device="cpu")
    s = model.config.scale
    rng = np.random.default_rng(0)
    warmup = engine.delay + 2 * len(model.config.passes) + 1
    for t in range(warmup):
        engine.push(rng.random((height, width, 3), dtype=np.float32), 1 + rng.random((height // s, width // s)), t * 0.03)
    counter = FlopCounterMode(display=False, custom_mapping={torch.ops.torchvision.deform_conv2d: _deform_conv2d_flops})
    with counter:
        out = engine.push(rng.random((height, width, 3), dtype=np.float32), 1 + rng.random((height // s, width // s)),
                          warmup * 0.03)
    assert len(out) == 1, "not in steady state"
    return counter.get_total_flops()
