"""Pinhole camera geometry with the OpenCV pixel-centre convention.

Pixel (u, v) is the centre of the pixel in column u, row v; the image spans [-0.5, W - 0.5] in x.
Depth is z-depth in metres (distance along the optical axis), never ray length.
"""

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels (OpenCV pixel-centre convention) for an image of width x height."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def scaled(self, s: float) -> "Intrinsics":
        """Intrinsics of the same camera resampled by factor s (s > 1: upsampling).

        A pixel-centre coordinate x maps to s * (x + 0.5) - 0.5, so cx' = s * (cx + 0.5) - 0.5, never s * cx.
        """
        return Intrinsics(
            fx=self.fx * s,
            fy=self.fy * s,
            cx=s * (self.cx + 0.5) - 0.5,
            cy=s * (self.cy + 0.5) - 0.5,
            width=int(round(self.width * s)),
            height=int(round(self.height * s)),
        )

    def matrix(self) -> np.ndarray:
        """3x3 camera matrix K (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Intrinsics":
        return cls(float(d["fx"]), float(d["fy"]), float(d["cx"]), float(d["cy"]), int(d["width"]), int(d["height"]))


def pixel_rays(intr: Intrinsics) -> np.ndarray:
    """(H, W, 2) float32 normalised ray slopes ((u - cx) / fx, (v - cy) / fy) at every pixel centre."""
    u = (np.arange(intr.width, dtype=np.float64) - intr.cx) / intr.fx
    v = (np.arange(intr.height, dtype=np.float64) - intr.cy) / intr.fy
    uu, vv = np.meshgrid(u, v)
    return np.stack([uu, vv], axis=-1).astype(np.float32)


def backproject(depth_m: np.ndarray, intr: Intrinsics, rays: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) float32 camera-frame points in metres from (H, W) z-depth in metres; invalid depth gives NaN.

    ``rays`` (from :func:`pixel_rays`) may be passed to skip recomputing them every frame.
    """
    if depth_m.shape != (intr.height, intr.width):
        raise ValueError(
            f"depth: expected shape ({intr.height}, {intr.width}) from the intrinsics, got {depth_m.shape}"
        )
    if rays is None:
        rays = pixel_rays(intr)
    z = np.where(np.isfinite(depth_m) & (depth_m > 0), depth_m, np.nan).astype(np.float32)
    out = np.empty(depth_m.shape + (3,), dtype=np.float32)
    np.multiply(rays[..., 0], z, out=out[..., 0])
    np.multiply(rays[..., 1], z, out=out[..., 1])
    out[..., 2] = z
    return out


def project(points_m: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """(..., 2) pixel-centre coordinates (u, v) of (..., 3) camera-frame points in metres."""
    z = points_m[..., 2]
    return np.stack([intr.fx * points_m[..., 0] / z + intr.cx, intr.fy * points_m[..., 1] / z + intr.cy], axis=-1)
