"""Streaming inference: one frame in, the frames that became final out, computed incrementally (no ROS here).

The passes are not recurrent, so each pass of each stage is a wavefront: when frame n arrives, a forward pass can
finalise frame n and a backward pass frame n-2 (it needs n-1 and n). Per-pass features are cached only while a
later computation still reads them, so each frame computes every pass once and memory is bounded by the receptive
field. Frames not yet followed by enough future are finalised by ``flush`` with the end-of-clip boundary rule, which
makes the streamed outputs equal the offline whole-clip forward.

Frame inputs: rgb (H, W, 3) uint8 or float in [0, 1]; lr_depth (H/s, W/s) float metres (0, NaN, inf = invalid).
Outputs: (stamp, hr_depth) with hr_depth (H, W) float32 metres, NaN where no valid output exists.
Stamps are seconds (float); they are returned exactly as given.
"""

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch

from .depth.invalid_depth import mask_unsupported, valid_mask
from .model.config import NEIGHBOUR_OFFSETS
from .model.flow_guidance import PairFlows
from .model.network import STDNet

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}  # autocast dtype of each (None: off)
CUDA_ONLY_PRECISIONS = ("fp16",)  # CPU autocast runs bf16 only
PRECISION_CHOICES = ("auto", *PRECISIONS)  # auto: bf16 where the device computes it natively, else fp32


def native_bf16(device: torch.device) -> bool:
    """Whether the device computes bf16 in hardware: CUDA from compute capability 8 (Ampere), a CPU with AMX or
    AVX512-BF16. Elsewhere CPU bf16 is emulated: 9x slower than fp32 on an AVX2 EPYC (stdnet bench model)."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    return device.type == "cpu" and (torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> bf16 on a device with native bf16 (native_bf16), else fp32; any other choice is checked and kept.
    ValueError naming the field for an unknown precision or fp16 off CUDA."""
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"precision: expected one of {', '.join(PRECISION_CHOICES)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if precision in CUDA_ONLY_PRECISIONS and device.type != "cuda":
        raise ValueError(f"precision: {precision!r} needs a CUDA device, got device {device}")
    return precision


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' -> CUDA when present, else CPU; anything else as torch understands it."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class _StageCache:
    """Features of one stage for the frames still needed, keyed by frame index within the segment."""

    num_passes: int
    guides: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    anchors: dict = field(default_factory=dict)
    passes: list = field(default_factory=list)
    done: list = field(default_factory=list)  # last finalised frame of each pass
    available: int = -1  # last frame whose stage inputs are encoded
    reconstructed: int = -1  # last frame reconstructed

    def __post_init__(self):
        self.passes = [{} for _ in range(self.num_passes)]
        self.done = [-1] * self.num_passes

    def evict_before(self, first_needed: int) -> None:
        for store in (self.guides, self.weights, self.anchors, *self.passes):
            for i in [i for i in store if i < first_needed]:
                del store[i]

    def cached_tensors(self) -> int:
        return sum(len(s) for s in (self.guides, self.weights, self.anchors, *self.passes))


class StreamingEngine:
    """Causal mode for a causal model (output t from push t), delayed bidirectional mode for a bidirectional one
    (output t from push t + delay). ``resets`` counts the automatic resets (stamp backwards, gap, size change)."""

    def __init__(
        self, model: STDNet, device: str | torch.device = "auto", precision: str = "fp32", max_gap: float = 0.5
    ):
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        if max_gap <= 0:
            raise ValueError(f"max_gap: expected a positive number of seconds, got {max_gap}")
        self.model = model.to(self.device).eval()
        self.max_gap = max_gap
        self.scale = model.config.scale
        self.delay = model.config.future_frames
        self.resets = 0
        self.reset()

    # --- public API ---
    def reset(self) -> None:
        """Forget the stream (pending frames are dropped; use flush() first to keep them)."""
        self._caches = [_StageCache(len(s.passes)) for s in self.model.stages]
        self._recs: list[dict] = [{} for _ in self.model.stages]  # reconstructed, waiting for the last stage
        # per frame index: lq4 (1, 1, H/4, W/4), base (1, 1, H, W), scale (1, 1, 1, 1) m, LR valid mask, stamp s
        self._lq4: dict[int, torch.Tensor] = {}
        self._bases: dict[int, torch.Tensor] = {}
        self._scales: dict[int, torch.Tensor] = {}
        self._lr_valid: dict[int, torch.Tensor] = {}
        self._stamps: dict[int, float] = {}
        self._flows = PairFlows() if self.model.config.flow_guided else None
        self._next = 0
        self._last_stamp: float | None = None
        self._hr_shape: torch.Size | None = None

    def push(self, rgb: np.ndarray, lr_depth: np.ndarray, stamp: float) -> list[tuple[float, np.ndarray]]:
        """Add one frame; returns the (stamp, hr_depth) of every frame that became final, oldest first."""
        rgb_t, lr_t = self._to_tensors(rgb, lr_depth)
        out = []
        if self._is_discontinuity(stamp, rgb_t.shape[-2:]):
            out = self.flush()
            self.resets += 1
        self._last_stamp, self._hr_shape = stamp, rgb_t.shape[-2:]
        index = self._next
        self._next += 1
        with self._inference_context():
            self._lq4[index], self._scales[index] = self.model.normalised_lr(lr_t)
            self._bases[index] = self.model.residual_base(self._lq4[index], rgb_t)
            self._lr_valid[index] = valid_mask(lr_t)
            self._stamps[index] = stamp
            if self._flows is not None:
                self._flows.add(index, rgb_t)
            out += self._run({index: (rgb_t, None)}, flushing=False)
            if self._flows is not None:  # a pending frame's passes still read up to 2 frames back
                self._flows.evict_before(min(self._stamps, default=self._next) - max(NEIGHBOUR_OFFSETS))
        return out

    def flush(self) -> list[tuple[float, np.ndarray]]:
        """Finalise every pending frame as the end of the clip, then reset."""
        with self._inference_context():
            out = self._run({}, flushing=True)
        self.reset()
        return out

    @property
    def pending(self) -> int:
        """Frames pushed but not yet returned."""
        return len(self._stamps)

    def cached_tensors(self) -> int:
        """Number of cached per-frame feature tensors (bounded by the receptive field)."""
        per_frame = len(self._lq4) + len(self._bases) + (self._flows.cached_frames() if self._flows else 0)
        return sum(c.cached_tensors() for c in self._caches) + sum(len(r) for r in self._recs) + per_frame

    # --- internals ---
    def _is_discontinuity(self, stamp: float, hr_shape) -> bool:
        if self._last_stamp is None:
            return False
        return stamp <= self._last_stamp or stamp - self._last_stamp > self.max_gap or hr_shape != self._hr_shape

    @contextmanager
    def _inference_context(self):
        dtype = PRECISIONS[self.precision]
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=dtype) if dtype else nullcontext():
            yield

    def _to_tensors(self, rgb: np.ndarray, lr_depth: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate one frame; rgb -> (1, 3, H, W) in [0, 1], lr_depth -> (1, 1, h, w) metres, on the device."""
        rgb, lr_depth = np.asarray(rgb), np.asarray(lr_depth)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
            raise ValueError(f"rgb: expected shape (H, W, 3), got {rgb.shape}")
        if rgb.dtype != np.uint8 and not np.issubdtype(rgb.dtype, np.floating):
            raise ValueError(f"rgb: expected dtype uint8 or float in [0, 1], got {rgb.dtype}")
        h, w = rgb.shape[:2]
        s = self.scale
        if h % s or w % s:
            raise ValueError(f"rgb: height and width must be multiples of the scale {s}, got {h}x{w}")
        if lr_depth.shape != (h // s, w // s):
            raise ValueError(
                f"lr_depth: expected shape {(h // s, w // s)} (rgb {h}x{w} / scale {s}), got {lr_depth.shape}"
            )
        if not rgb.flags.writeable:  # e.g. a view of a bag message's bytes; torch wants writeable memory
            rgb = rgb.copy()
        rgb_t = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device, non_blocking=True)
        rgb_t = rgb_t.permute(2, 0, 1)[None].float()
        if rgb.dtype == np.uint8:
            rgb_t = rgb_t / 255.0
        lr_t = torch.from_numpy(np.ascontiguousarray(lr_depth, dtype=np.float32)).to(self.device, non_blocking=True)
        return rgb_t, lr_t[None, None]

    def _run(self, inputs: dict, flushing: bool) -> list[tuple[float, np.ndarray]]:
        """Feed stage inputs {index: (guide, extra)} through every stage; return the frames that became final."""
        stages = self.model.stages
        for k, (stage, cache) in enumerate(zip(stages, self._caches)):
            for i, (guide, extra) in inputs.items():
                enc = stage.encode(guide, self._lq4[i], extra)
                cache.guides[i], cache.weights[i], cache.anchors[i] = enc.guide, enc.weight, enc.anchor
                cache.available = i
            new = self._advance(stage, cache, flushing)
            self._recs[k].update(new)
            if k + 1 < len(stages):
                inputs = {i: (self.model.next_stage_guide(r), r.feature) for i, r in new.items()}
        return [self._finalise(i) for i in sorted(new)]

    def _advance(self, stage, cache: _StageCache, flushing: bool) -> dict:
        """Finalise what the new inputs allow in each pass, reconstruct those frames, evict what is no longer read."""
        prev, avail = cache.anchors, cache.available
        for p, direction in enumerate(stage.passes):
            reach = 0 if flushing or direction == "forward" else max(NEIGHBOUR_OFFSETS)
            frames = range(cache.done[p] + 1, avail - reach + 1)
            if len(frames):
                cache.passes[p].update(
                    stage.propagate(p, prev, cache.anchors, cache.guides, cache.weights, frames, avail + 1, self._flows)
                )
                cache.done[p] = frames[-1]
            prev, avail = cache.passes[p], cache.done[p]
        new = {
            i: stage.reconstruct(cache.anchors[i], [store[i] for store in cache.passes], self._bases[i])
            for i in range(cache.reconstructed + 1, avail + 1)
        }
        cache.reconstructed = avail
        cache.evict_before(avail - 1)  # the next frame of any pass reads back at most 2 frames
        return new

    def _finalise(self, i: int) -> tuple[float, np.ndarray]:
        fused = self.model.fuse([recs.pop(i) for recs in self._recs])
        depth = mask_unsupported(fused.float() * self._scales.pop(i), self._lr_valid.pop(i), self.scale)
        del self._lq4[i], self._bases[i]
        return self._stamps.pop(i), depth[0, 0].cpu().numpy()
