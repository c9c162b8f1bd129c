"""Why the temporal passes help or do not (issue 22's diagnosis), measured on sequences with exact flow.

Three measurements of one model:
- alignment: where the first pass's deformable kernel reads the neighbour at distance 1 (the mean of its nine tap
  offsets, the kernel's shift; for a flow-guided model the learned residual plus the flow) against the true motion
  of each feature pixel to that neighbour, from the generator's exact flow block-averaged to feature pixels (as
  flow_guidance.py averages DIS flow). Errors in feature pixels; the motion itself is the error of not aligning.
- passes: how far each pass moves its input, ||out - in|| / ||in|| over the frames that have a neighbour.
- temporal gain: 1 - RMSE(the model streamed) / RMSE(each frame its own clip, evaluation's stdnet-single-frame),
  per degradation and per camera speed (every k-th frame of the sequence).
Flow convention: the generator's flow of frame t maps pixels of t-1 to t; the motion of frame t's pixels to t+1 is
frame t+1's flow exactly, and to t-1 it is taken as minus frame t's flow (first order in the motion).
"""

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import torch

from ..data.reader import SequenceReader
from ..depth.degradation import Degradation
from ..model.difference_modules import KERNEL_TAPS, TemporalDifferenceModule
from ..model.flow_guidance import PairFlows, block_mean
from ..model.network import STDNet
from ..streaming import StreamingEngine
from .runner import EngineMethod, EvalSequence, SingleFrameMethod, dataset_sequence, evaluate_sequence


def clip_tensors(sequence: EvalSequence, frames: int) -> tuple[torch.Tensor, torch.Tensor, list[np.ndarray | None]]:
    """The first ``frames`` frames as rgb (1, T, 3, H, W) in [0, 1], lr (1, T, 1, h, w) metres (NaN invalid) and
    their exact flows (H, W, 2) HR pixels (None for frame 0)."""
    chosen = [f for _, f in zip(range(frames), sequence.frames)]
    rgb = torch.stack([torch.from_numpy(f.rgb).permute(2, 0, 1).float() / 255.0 for f in chosen])[None]
    lr = torch.stack([torch.from_numpy(np.where(f.lr_m > 0, f.lr_m, np.nan).astype(np.float32)) for f in chosen])
    return rgb, lr[None, :, None], [f.flow for f in chosen]


def true_motion(flows: list[np.ndarray | None], t: int, n: int) -> np.ndarray:
    """(2, h, w) feature-pixel motion (dx, dy) of frame t's pixels to frame n = t +- 1 (module docstring)."""
    flow = flows[n] if n == t + 1 else -flows[t]  # type: ignore[operator]
    return block_mean(flow[None])[0]


class _FirstPassRecorder:
    """Hooks on the first TDM of the first stage: the own offsets (B, 18, h, w) and the flow it was given."""

    def __init__(self, model: STDNet):
        self.tdm: TemporalDifferenceModule = model.stages[0].tdms[0]
        self.calls: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        self._flow: torch.Tensor | None = None
        self._handles = [
            self.tdm.register_forward_pre_hook(self._pre),
            self.tdm.offset_mask.register_forward_hook(self._offsets),
        ]

    def _pre(self, _module, args):
        self._flow = args[5] if len(args) > 5 else None

    def _offsets(self, _module, _args, out):
        self.calls.append((out[:, : 2 * KERNEL_TAPS].detach(), self._flow))

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def alignment_errors(model: STDNet, rgb: torch.Tensor, lr: torch.Tensor, flows: list) -> dict:
    """Mean errors in feature pixels of the first pass's kernel shift, the flow it was given (flow-guided) and
    no shift, against the true motion to the distance-1 neighbours; and their correlation with it."""
    recorder = _FirstPassRecorder(model)
    try:
        with torch.no_grad():
            model(lr, rgb)
    finally:
        recorder.close()
    t_count = rgb.shape[1]
    step = -1 if model.config.passes[0] == "forward" else 1
    pairs = [(t, t + step) for t in range(t_count) if 0 <= t + step < t_count]
    own, given = recorder.calls[0]  # the first call of the first pass: the distance-1 neighbours, frame order
    shift = own.view(len(pairs), KERNEL_TAPS, 2, *own.shape[-2:]).mean(1).flip(1)  # (P, 2, h, w) as (dx, dy)
    if given is not None:
        shift = shift + given
    truth = torch.from_numpy(np.stack([true_motion(flows, t, n) for t, n in pairs]))
    known = torch.isfinite(truth).all(1)  # (P, h, w)
    out = {
        "motion_fpx": _mean_norm(truth, known),  # also the error of reading the neighbour unshifted
        "kernel_shift_epe_fpx": _mean_norm(shift - truth, known),
        "kernel_shift_mean_fpx": _mean_norm(shift, known),
        "kernel_shift_correlation": _correlation(shift, truth, known),
    }
    if given is not None:
        out["flow_epe_fpx"] = _mean_norm(given - truth, known)
    return out


def _mean_norm(v: torch.Tensor, known: torch.Tensor) -> float:
    return float(v.norm(dim=1)[known].mean())


def _correlation(a: torch.Tensor, b: torch.Tensor, known: torch.Tensor) -> float:
    x = a.permute(1, 0, 2, 3)[:, known].flatten()
    y = b.permute(1, 0, 2, 3)[:, known].flatten()
    return float(torch.corrcoef(torch.stack([x, y]))[0, 1])


def pass_changes(model: STDNet, rgb: torch.Tensor, lr: torch.Tensor) -> list[float]:
    """Per pass of the first stage, mean ||out_t - in_t|| / ||in_t|| over the frames with a neighbour in it."""
    stage = model.stages[0]
    n, t = rgb.shape[:2]
    with torch.no_grad():
        lq4, _ = model.normalised_lr(lr.flatten(0, 1))
        enc = stage.encode(rgb.flatten(0, 1), lq4)
        flows = PairFlows.of_clip(rgb) if model.config.flow_guided else None
        anchors, guides, weights = (list(x.unflatten(0, (n, t)).unbind(1)) for x in (enc.anchor, enc.guide, enc.weight))
        feats, changes = anchors, []
        for index, direction in enumerate(stage.passes):
            out = stage.propagate(index, feats, anchors, guides, weights, range(t), t, flows)
            moved = [i for i in range(t) if 0 <= i + (1 if direction == "backward" else -1) < t]
            changes.append(float(np.mean([float((out[i] - feats[i]).norm() / feats[i].norm()) for i in moved])))
            feats = [out[i] for i in range(t)]
    return changes


def strided(sequence: EvalSequence, stride: int, frames: int) -> EvalSequence:
    """The first ``frames`` of every ``stride``-th frame (the camera ``stride`` times as fast), without flow for
    stride > 1 (the stored flow is from the previous frame of the sequence)."""

    def chosen() -> Iterator:
        kept = (f for i, f in enumerate(sequence.frames) if i % stride == 0)
        for _, frame in zip(range(frames), kept):
            yield frame if stride == 1 else replace(frame, flow=None)

    return EvalSequence(f"{sequence.name}@x{stride}", chosen(), frames, sequence.info)


def temporal_gain(
    model: STDNet, readers: list[SequenceReader], degradation: Degradation, stride: int, frames: int
) -> dict:
    """RMSE / TEPE (cm) streamed and single-frame, mean over the sequences, and the gain 1 - streamed / single."""
    scale = model.config.scale
    sums: dict[str, list[float]] = {}
    for reader in readers:
        sequence = strided(dataset_sequence(reader, scale, degradation), stride, frames)
        methods = {
            "streamed": EngineMethod(StreamingEngine(model, "cpu")),
            "single": SingleFrameMethod(StreamingEngine(model, "cpu")),
        }
        for name, result in evaluate_sequence(sequence, methods, scale).items():
            sums.setdefault(f"{name}_rmse_cm", []).append(result["rmse_cm"])
            if result.get("tepe_cm") is not None:
                sums.setdefault(f"{name}_tepe_cm", []).append(result["tepe_cm"])
    out = {k: float(np.mean(v)) for k, v in sums.items()}
    out["gain"] = 1.0 - out["streamed_rmse_cm"] / out["single_rmse_cm"]
    return out
