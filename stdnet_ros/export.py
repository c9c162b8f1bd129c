"""ONNX export of the causal per-frame streaming step: cached features of the two previous frames in, the depth
of the new frame and the updated cache out. Deformable convolutions are grid samples and a 1x1 convolution
(ONNX GridSample, opset >= 16).

The exported graph is the causal StreamingEngine step as a pure function, so a C++/TensorRT runtime only has to
keep the cache tensors between calls. The neighbour rule of a causal pass (sum over the previous frames that exist,
or copy the frame when none does) is expressed with the ``history_valid`` flags instead of Python control flow.
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .depth.invalid_depth import mask_unsupported, valid_mask
from .model.config import NEIGHBOUR_OFFSETS
from .model.network import STDNet

OPSET = 19  # GridSample needs >= 16; kept at 19
HISTORY = max(NEIGHBOUR_OFFSETS)  # a causal pass reads frames t-1 and t-2


def cache_names(model: STDNet) -> list[str]:
    """Names of the cache tensors, in graph order: per stage, each store at lags 1..HISTORY."""
    names = []
    for k, stage in enumerate(model.stages):
        stores = ["anchor", "guide"] + [f"pass{p}" for p in range(len(stage.passes) - 1)]
        names += [f"stage{k}_{store}_t-{lag}" for store in stores for lag in range(1, HISTORY + 1)]
    return names


class CausalStep(nn.Module):
    """forward(rgb (1, 3, H, W) in [0, 1], lr_depth (1, 1, H/s, W/s) metres, history_valid (2,) float {0, 1}: do
    frames t-1 and t-2 exist, *cache (each (1, C, H/4, W/4))) -> (depth (1, 1, H, W) metres, NaN invalid, *cache')."""

    def __init__(self, model: STDNet):
        super().__init__()
        if model.config.directions != "causal":
            raise ValueError(f"directions: the exported step needs a causal model, got {model.config.directions!r}")
        if model.config.flow_guided:
            raise ValueError("alignment: the exported step supports 'learned' only (its graph has no flow inputs)")
        self.model = model
        self.eval()

    def forward(self, rgb, lr_depth, history_valid, *cache):
        model = self.model
        lq4, scale_m = model.normalised_lr(lr_depth)
        base = model.residual_base(lq4, rgb)
        v1, v2 = history_valid[0], history_valid[1]
        cache = iter(cache)
        new_cache, recs = [], []
        for stage in model.stages:
            if recs:
                enc = stage.encode(model.next_stage_guide(recs[-1]), lq4, recs[-1].feature)
            else:
                enc = stage.encode(rgb, lq4)
            anchor_hist, guide_hist = [next(cache) for _ in range(HISTORY)], [next(cache) for _ in range(HISTORY)]
            new_cache += [enc.anchor, *anchor_hist[:-1], enc.guide, *guide_hist[:-1]]
            feats, outs = [enc.anchor, *anchor_hist], []
            for p, tdm in enumerate(stage.tdms):
                x = feats[0]
                both = tdm(
                    torch.cat([x, x]),
                    torch.cat(feats[1:]),
                    torch.cat([(a - enc.anchor).abs() for a in anchor_hist]),
                    torch.cat(guide_hist),
                    torch.cat([enc.weight, enc.weight]),
                )
                out = v1 * both[:1] + v2 * both[1:] + (1 - v1) * x
                outs.append(out)
                if p + 1 < len(stage.tdms):
                    hist = [next(cache) for _ in range(HISTORY)]
                    new_cache += [out, *hist[:-1]]
                    feats = [out, *hist]
            recs.append(stage.reconstruct(enc.anchor, outs, base))
        depth = mask_unsupported(model.fuse(recs) * scale_m, valid_mask(lr_depth), model.config.scale)
        return (depth, *new_cache)


def example_inputs(model: STDNet, height: int, width: int) -> tuple[torch.Tensor, ...]:
    """Zero inputs of the step's shapes at an H x W output (an empty cache, no history)."""
    s, c = model.config.scale, model.config.channels
    feat = torch.zeros(1, c, height // 4, width // 4)
    return (
        torch.zeros(1, 3, height, width),
        torch.ones(1, 1, height // s, width // s),
        torch.zeros(2),
        *[feat.clone() for _ in cache_names(model)],
    )


def export_causal_step(model: STDNet, path: str | Path, height: int, width: int) -> Path:
    """Write the causal step for a fixed H x W output to an ONNX file (static shapes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = cache_names(model)
    torch.onnx.export(
        CausalStep(model),
        example_inputs(model, height, width),
        str(path),
        dynamo=True,
        opset_version=OPSET,
        input_names=["rgb", "lr_depth", "history_valid", *names],
        output_names=["depth", *[f"next_{n}" for n in names]],
        external_data=False,
    )
    return path


class OnnxCausalStreamer:
    """Runs an exported step with onnxruntime, keeping the cache between frames (a reference for other runtimes)."""

    def __init__(self, path: str | Path, providers=("CPUExecutionProvider",)):
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(path), providers=list(providers))
        self.inputs = self.session.get_inputs()
        self.reset()

    def reset(self) -> None:
        self.cache = [np.zeros(i.shape, np.float32) for i in self.inputs[3:]]
        self.frames = 0

    def push(self, rgb: np.ndarray, lr_depth: np.ndarray) -> np.ndarray:
        """rgb (H, W, 3) uint8, lr_depth (H/s, W/s) metres -> (H, W) float32 metres, NaN invalid."""
        feeds = {
            "rgb": (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None],
            "lr_depth": np.asarray(lr_depth, np.float32)[None, None],
            "history_valid": np.array([self.frames >= 1, self.frames >= 2], np.float32),
        }
        feeds.update({i.name: c for i, c in zip(self.inputs[3:], self.cache)})
        depth, *self.cache = self.session.run(None, feeds)
        self.frames += 1
        return depth[0, 0]


def max_stream_difference(model: STDNet, path: str | Path, frames) -> float:
    """Largest |ONNX - StreamingEngine| in metres over a stream of (rgb uint8, lr_depth metres) frames; the NaN
    masks must agree exactly."""
    from .streaming import StreamingEngine

    engine = StreamingEngine(model, device="cpu")
    streamer = OnnxCausalStreamer(path)
    worst = 0.0
    for t, (rgb, lr_depth) in enumerate(frames):
        ((_, expected),) = engine.push(rgb, lr_depth, t / 30)
        got = streamer.push(rgb, lr_depth)
        if not np.array_equal(np.isnan(expected), np.isnan(got)):
            raise AssertionError(f"frame {t}: the NaN masks of ONNX and PyTorch differ")
        if np.isfinite(expected).any():
            worst = max(worst, float(np.nanmax(np.abs(expected - got))))
    return worst
