"""Simulated low-resolution depth (LR) from high-resolution depth and RGB, vectorised in torch.

Layouts: depth (..., H, W) float metres (0 = invalid); rgb (..., 3, H, W), uint8 or float in [0, 1]; the output
is (..., H/s, W/s) float32 metres with 0 = invalid. LR pixel (i, j) covers HR rows [s*i, s*i + s) and columns
[s*j, s*j + s) (pixel-centre convention: its centre is at HR s*i + (s - 1)/2). H and W must be multiples of s.
``degrade_numpy`` wraps the same for numpy arrays with (H, W, 3) RGB, as stored on disk.

Kinds and their sources:
  dtof     DVSR's dToF simulator (facebookresearch/DVSR datasets/dtof_simulator.py, 'peak' mode), the LR input
           behind STDNet's numbers: per block, a histogram of depth over ``bins`` bins spanning [0, range_m],
           each pixel weighted by albedo / ((d / range_m)^2 + 1e-3) with albedo = mean RGB in [0, 1]; the LR value
           is the centre of the peak bin, argmax / (bins - 1) * range_m (ties go to the nearer bin).
  area     mean of the valid pixels of each block (0-aware average pooling), as de Lutio et al. and Metzger et al.
           (GAD, block_reduce with nanmean).
  nearest  the HR pixel nearest the LR pixel centre, as DJF and ARKitScenes; for even s the centre falls between
           two pixels and we take the later one, HR index s*i + s//2 (torch 'nearest-exact').
  bicubic  torch antialiased bicubic (F.interpolate(mode='bicubic', antialias=True), which matches PIL's
           Image.BICUBIC resize used by DKN and JIIF), normalised by the same filter applied to the validity mask,
           so invalid pixels do not pull the result to 0; LR is 0 where that mask weight is below 0.5.
Optional corruptions (all off by default):
  photons  dtof only: each HR pixel returns Poisson(photons * albedo * 1e-3 / ((d / range_m)^2 + 1e-3)) photons,
           i.e. ``photons`` is the expected count of a white surface at close range, and the histogram counts
           photons instead of expected weights; a block with no photon is invalid (shot noise and range dropout).
  noise    multiplicative Gaussian noise on valid LR pixels, LR * (1 + noise * N(0, 1)) (JIIF / Riegler style).
  dropout  probability that an LR pixel is set invalid (0).

Named sensors (``SENSORS``; evaluation reports both, ``stdnet eval --lr auto`` simulates ``DEFAULT_SENSOR``):
  dvsr     the paper's protocol: DVSR's dToF over 1024 bins of [0, 100 m] (9.8 cm bins), no noise; the dataclass
           default ``Degradation()``.
  indoor   an indoor robot ToF sensor: dToF over 1501 bins of [0, 15 m] (1.0 cm bins; 15 m covers the generator's
           largest room diagonal), shot noise of 1000 photons (a mid-grey surface at 5 m returns about 70 photons
           per 4x4 block) and 1 % dropouts. Source: the Azure Kinect DK's stated depth accuracy (Microsoft's
           hardware specification: systematic error < 11 mm + 0.1 % of distance, random error <= 17 mm, confirmed
           by Toelgyessy et al., Sensors 2021), taken as the bin width, on DVSR's dToF model.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

KINDS = ("dtof", "area", "nearest", "bicubic")
DTOF_EPS = 1e-3  # DVSR's constant in the albedo / (d^2 + eps) weight, on depth normalised by range_m


@dataclass(frozen=True)
class Degradation:
    """How LR depth is made from HR depth (see the module docstring for each field)."""

    kind: str = "dtof"
    range_m: float = 100.0
    bins: int = 1024
    photons: float = 0.0
    noise: float = 0.0
    dropout: float = 0.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"degradation kind: unknown {self.kind!r}, expected one of {KINDS}")
        if self.range_m <= 0 or self.bins < 2:
            raise ValueError(f"degradation: range_m must be > 0 and bins >= 2, got {self.range_m} and {self.bins}")
        if self.photons < 0 or self.noise < 0 or not 0 <= self.dropout <= 1:
            raise ValueError(
                f"degradation: photons, noise >= 0 and dropout in [0, 1], got "
                f"{self.photons}, {self.noise}, {self.dropout}"
            )
        if self.photons and self.kind != "dtof":
            raise ValueError(f"degradation: photons applies to kind 'dtof' only, got kind {self.kind!r}")

    def apply(
        self, depth_m: torch.Tensor, rgb: torch.Tensor | None, scale: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """(..., H/s, W/s) float32 LR depth in metres (0 = invalid) from (..., H, W) depth and (..., 3, H, W) rgb.

        ``rgb`` is only read by kind 'dtof' and may be None for the others. ``generator`` (on the device of
        ``depth_m``) seeds the random parts.
        """
        depth = _check(depth_m, rgb, scale, self.kind)
        if self.kind == "dtof":
            assert rgb is not None  # _check raised for a dtof degradation without RGB
            lr = _dtof(depth, _albedo(rgb), scale, self.range_m, self.bins, self.photons, generator)
        elif self.kind == "area":
            lr = _area(depth, scale)
        elif self.kind == "nearest":
            lr = depth[..., scale // 2 :: scale, scale // 2 :: scale].clone()
        else:
            lr = _bicubic(depth, scale)
        if self.noise:
            noisy = lr * (1.0 + self.noise * torch.randn(lr.shape, generator=generator, device=lr.device))
            lr = torch.where(lr > 0, noisy.clamp(min=0.0), lr)
        if self.dropout:
            lr = torch.where(torch.rand(lr.shape, generator=generator, device=lr.device) < self.dropout, 0.0, lr)
        return lr


SENSORS = {
    "dvsr": Degradation(),
    "indoor": Degradation(range_m=15.0, bins=1501, photons=1000.0, dropout=0.01),
}
DEFAULT_SENSOR = "indoor"


def degrade(
    depth_m: torch.Tensor,
    rgb: torch.Tensor | None,
    scale: int,
    kind: str = "dtof",
    generator: torch.Generator | None = None,
    **params,
) -> torch.Tensor:
    """Shortcut for ``Degradation(kind, **params).apply(depth_m, rgb, scale, generator)``."""
    return Degradation(kind, **params).apply(depth_m, rgb, scale, generator)


def degrade_numpy(
    depth_m: np.ndarray,
    rgb: np.ndarray | None,
    scale: int,
    degradation: Degradation = Degradation(),
    seed: int | None = None,
) -> np.ndarray:
    """(h, w) float32 LR depth in metres from (H, W) depth in metres and (H, W, 3) uint8 RGB (numpy, as on disk)."""
    rgb_t = None if rgb is None else torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    return degradation.apply(torch.from_numpy(np.asarray(depth_m, np.float32)), rgb_t, scale, generator).numpy()


def _check(depth_m: torch.Tensor, rgb: torch.Tensor | None, scale: int, kind: str) -> torch.Tensor:
    """Validate shapes; return depth as float32 with non-finite and negative values set to 0 (invalid)."""
    if depth_m.dim() < 2:
        raise ValueError(f"depth: expected shape (..., H, W), got {tuple(depth_m.shape)}")
    h, w = depth_m.shape[-2:]
    if scale < 1 or h % scale or w % scale:
        raise ValueError(f"depth: size {h}x{w} is not divisible by the scale {scale}")
    if kind == "dtof":
        if rgb is None or rgb.shape[-3:] != (3, h, w) or rgb.shape[:-3] != depth_m.shape[:-2]:
            got = None if rgb is None else tuple(rgb.shape)
            raise ValueError(f"rgb: expected shape {(*depth_m.shape[:-2], 3, h, w)} for dtof, got {got}")
    depth = depth_m.float()
    return torch.where(torch.isfinite(depth) & (depth > 0), depth, 0.0)


def _albedo(rgb: torch.Tensor) -> torch.Tensor:
    """(..., H, W) mean of the RGB channels in [0, 1]."""
    scale = 255.0 if rgb.dtype == torch.uint8 else 1.0
    return rgb.float().mean(dim=-3) / scale


def _blocks(x: torch.Tensor, s: int) -> torch.Tensor:
    """(..., H, W) -> (..., H/s, W/s, s*s): the pixels of each LR block."""
    *lead, h, w = x.shape
    return x.reshape(*lead, h // s, s, w // s, s).transpose(-3, -2).reshape(*lead, h // s, w // s, s * s)


def _area(depth: torch.Tensor, s: int) -> torch.Tensor:
    blocks = _blocks(depth, s)
    count = (blocks > 0).sum(dim=-1)
    return torch.where(count > 0, blocks.sum(dim=-1) / count.clamp(min=1), 0.0)


def _bicubic(depth: torch.Tensor, s: int) -> torch.Tensor:
    *lead, h, w = depth.shape
    valid = (depth > 0).float()
    stacked = torch.stack([depth, valid], dim=-3).reshape(-1, 2, h, w)
    down = F.interpolate(stacked, size=(h // s, w // s), mode="bicubic", antialias=True, align_corners=False)
    value, weight = down[:, 0], down[:, 1]
    lr = torch.where(weight >= 0.5, value / weight.clamp(min=0.5), 0.0).clamp(min=0.0)
    return lr.reshape(*lead, h // s, w // s)


def _dtof(
    depth: torch.Tensor,
    albedo: torch.Tensor,
    s: int,
    range_m: float,
    bins: int,
    photons: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Peak of each block's weighted depth histogram: sort each block's bins, sum runs of equal bins, take the max.

    Only the (at most s*s) occupied bins of a block are touched; the first maximal run is the nearest bin.
    """
    d_norm = depth.clamp(max=range_m) / range_m
    weight = albedo / (d_norm * d_norm + DTOF_EPS) * (depth > 0)
    if photons:
        weight = torch.poisson(weight * (photons * DTOF_EPS), generator=generator)
    sorted_bins, order = torch.sort(_blocks(torch.round(d_norm * (bins - 1)).long(), s), dim=-1, stable=True)
    sorted_weights = _blocks(weight, s).gather(-1, order)
    starts = torch.ones_like(sorted_bins, dtype=torch.bool)
    starts[..., 1:] = sorted_bins[..., 1:] != sorted_bins[..., :-1]
    run = torch.cumsum(starts, dim=-1) - 1  # index of each pixel's run of equal bins within its block
    run_weight = torch.zeros_like(sorted_weights).scatter_add_(-1, run, sorted_weights)
    run_bin = torch.zeros_like(sorted_bins).scatter_(-1, run, sorted_bins)
    best = run_weight.argmax(dim=-1, keepdim=True)
    peak_bin = run_bin.gather(-1, best)[..., 0]
    valid = run_weight.gather(-1, best)[..., 0] > 0
    return torch.where(valid, peak_bin.float() / (bins - 1) * range_m, 0.0)
