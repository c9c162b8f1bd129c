"""FLOP accounting of the streaming per-frame step (convolutions and matmuls). A deformable convolution
(model/deform.py) counts as its 1x1 convolution over C*9 channels, the MACs of a dense 3x3; its bilinear sampling
is not counted."""

import numpy as np
from torch.utils.flop_counter import FlopCounterMode

from .network import STDNet


def streaming_flops_per_frame(model: STDNet, height: int, width: int) -> int:
    """FLOPs of one steady-state streaming step (one new frame, every pass finalising one frame) at H x W output."""
    from ..streaming import StreamingEngine  # the engine imports the model package

    engine = StreamingEngine(model, device="cpu")
    s = model.config.scale
    rng = np.random.default_rng(0)
    warmup = engine.delay + 2 * len(model.config.passes) + 1
    for t in range(warmup):
        engine.push(
            rng.random((height, width, 3), dtype=np.float32), 1 + rng.random((height // s, width // s)), t * 0.03
        )
    counter = FlopCounterMode(display=False)
    with counter:
        out = engine.push(
            rng.random((height, width, 3), dtype=np.float32), 1 + rng.random((height // s, width // s)), warmup * 0.03
        )
    assert len(out) == 1, "not in steady state"
    return counter.get_total_flops()
