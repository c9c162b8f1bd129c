"""Analytic ray casting of rigid primitives (torch, CPU), exact z-depth by construction.

Rays leave the camera centre with camera-frame direction (x, y, 1) = K^-1 [u v 1] at pixel centres, so the ray
parameter t of a hit *is* its z-depth. Each primitive is intersected in its own local frame; a rigid transform
keeps t unchanged. Only the pixels inside the screen rectangle of a primitive's bounding sphere are tested.
All lengths are metres. Directions are passed as three (..., ) component tensors (dx, dy, dz).
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

from stdnet_ros.depth.geometry import Intrinsics

KINDS = ("room", "box", "sphere", "cylinder", "quad")
SIZE_COUNTS = {"room": 3, "box": 3, "sphere": 1, "cylinder": 2, "quad": 2}
NEAR_M = 1e-4  # hits closer than this along the ray are ignored
_OTHER_AXES = torch.tensor([[1, 2], [0, 2], [0, 1]])


@dataclass(frozen=True)
class Primitive:
    """A solid centred at its local origin. ``size`` in metres, by kind:

    room, box: (hx, hy, hz) half-extents (a room is seen from inside); sphere: (radius,);
    cylinder: (radius, half_height) around the local z axis; quad: (hx, hy) in the local z = 0 plane, two-sided.
    """

    kind: str
    size: tuple[float, ...]

    def __post_init__(self):
        if self.kind not in SIZE_COUNTS:
            raise ValueError(f"primitive kind: unknown {self.kind!r}, expected one of {KINDS}")
        if len(self.size) != SIZE_COUNTS[self.kind] or min(self.size) <= 0:
            count = SIZE_COUNTS[self.kind]
            raise ValueError(f"primitive {self.kind}: size must be {count} positive numbers, got {self.size}")
        object.__setattr__(self, "size", tuple(float(s) for s in self.size))

    def bounding_radius_m(self) -> float:
        """Radius in metres of a sphere around the local origin that contains the primitive."""
        return self.size[0] if self.kind == "sphere" else math.hypot(*self.size)


@dataclass(frozen=True, eq=False)
class Rays:
    """Camera ray slopes at pixel centres of ``intrinsics``: x (W,) = (u - cx) / fx, y (H,) = (v - cy) / fy, float32."""

    intrinsics: Intrinsics
    x: torch.Tensor
    y: torch.Tensor

    @classmethod
    def of(cls, intr: Intrinsics) -> "Rays":
        x = (torch.arange(intr.width, dtype=torch.float64) - intr.cx) / intr.fx
        y = (torch.arange(intr.height, dtype=torch.float64) - intr.cy) / intr.fy
        return cls(intr, x.float(), y.float())

    def at(self, flat_index: torch.Tensor) -> torch.Tensor:
        """(M, 3) camera-frame directions (x, y, 1) of pixels given by row-major flat indices (M,)."""
        w = self.x.shape[0]
        return torch.stack([self.x[flat_index % w], self.y[flat_index // w], torch.ones(flat_index.shape[0])], dim=1)


def intersect(prim: Primitive, origin: tuple[float, float, float], dirs) -> torch.Tensor:
    """Ray parameter of the first visible hit (inf where none) for rays origin + t * dirs in the local frame.

    ``origin`` is the camera centre (3 floats), ``dirs`` three equally shaped direction component tensors.
    """
    if prim.kind in ("room", "box"):
        t = _box(prim.size, origin, dirs, inside=prim.kind == "room")
    elif prim.kind == "sphere":
        t = _sphere(prim.size[0], origin, dirs)
    elif prim.kind == "cylinder":
        t = _cylinder(prim.size[0], prim.size[1], origin, dirs)
    else:
        t = _quad(prim.size[0], prim.size[1], origin, dirs)
    return torch.where(t > NEAR_M, t, torch.inf)


def _box(half, origin, dirs, inside: bool) -> torch.Tensor:
    """Slab test: entry distance (seen from outside) or exit distance (``inside``, for rooms); inf on a miss."""
    t_enter = t_exit = None
    for h, o, d in zip(half, origin, dirs):
        inv = 1.0 / d
        t1 = (-h - o) * inv
        t2 = (h - o) * inv
        lo, hi = torch.minimum(t1, t2), torch.maximum(t1, t2)
        t_enter = lo if t_enter is None else torch.maximum(t_enter, lo)
        t_exit = hi if t_exit is None else torch.minimum(t_exit, hi)
    hit = t_exit >= t_enter
    if inside:
        return torch.where(hit, t_exit, torch.inf)
    return torch.where(hit & (t_enter > NEAR_M), t_enter, torch.inf)


def _sphere(radius: float, origin, dirs) -> torch.Tensor:
    """Near root of |o + t d| = r, in the cancellation-free form t = c / (-b + sqrt(b^2 - a c))."""
    dx, dy, dz = dirs
    ox, oy, oz = origin
    a = dx * dx + dy * dy + dz * dz
    b = dx * ox + dy * oy + dz * oz
    c = ox * ox + oy * oy + oz * oz - radius * radius
    disc = b * b - a * c
    t = c / (-b + torch.sqrt(disc.clamp(min=0.0)))
    return torch.where(disc >= 0, t, torch.inf)


def _cylinder(radius: float, half_height: float, origin, dirs) -> torch.Tensor:
    """Nearest hit on the side (|z| <= half_height) or on either cap disc."""
    dx, dy, dz = dirs
    ox, oy, oz = origin
    a = dx * dx + dy * dy
    b = dx * ox + dy * oy
    c = ox * ox + oy * oy - radius * radius
    disc = b * b - a * c
    t_side = c / (-b + torch.sqrt(disc.clamp(min=0.0)))
    side_ok = (disc >= 0) & (t_side > NEAR_M) & ((oz + t_side * dz).abs() <= half_height)
    best = torch.where(side_ok, t_side, torch.inf)
    for z in (-half_height, half_height):
        t_cap = (z - oz) / dz
        px, py = ox + t_cap * dx, oy + t_cap * dy
        cap_ok = (t_cap > NEAR_M) & (px * px + py * py <= radius * radius)
        best = torch.minimum(best, torch.where(cap_ok, t_cap, torch.inf))
    return best


def _quad(hx: float, hy: float, origin, dirs) -> torch.Tensor:
    """Hit on the z = 0 plane inside |x| <= hx, |y| <= hy."""
    dx, dy, dz = dirs
    ox, oy, oz = origin
    t = -oz / dz
    inside = ((ox + t * dx).abs() <= hx) & ((oy + t * dy).abs() <= hy)
    return torch.where(inside, t, torch.inf)


def screen_rect(centre_cam: np.ndarray, radius: float, intr: Intrinsics) -> tuple[int, int, int, int] | None:
    """Pixel rows [v0, v1) and columns [u0, u1) that can see a sphere (camera-frame centre, radius in m), or None."""
    cx, cy, cz = (float(c) for c in centre_cam)
    if cz + radius <= NEAR_M:
        return None
    if cz - radius <= NEAR_M:
        return 0, intr.height, 0, intr.width
    u0, u1 = _slope_range(cx, cz, radius, intr.fx, intr.cx, intr.width)
    v0, v1 = _slope_range(cy, cz, radius, intr.fy, intr.cy, intr.height)
    if u0 >= u1 or v0 >= v1:
        return None
    return v0, v1, u0, u1


def _slope_range(c: float, cz: float, r: float, f: float, centre: float, size: int) -> tuple[int, int]:
    """Pixel index range covering every x/z of the box [c - r, c + r] x [cz - r, cz + r] (cz - r > 0)."""
    hi = (c + r) / (cz - r if c + r >= 0 else cz + r)
    lo = (c - r) / (cz + r if c - r >= 0 else cz - r)
    return max(0, math.floor(f * lo + centre)), min(size, math.floor(f * hi + centre) + 2)


@dataclass(frozen=True, eq=False)
class Hits:
    """First hits per pixel: depth_m (H, W) float32 z in metres (0 = no hit), object (H, W) int64 index (-1 = none)."""

    depth_m: torch.Tensor
    object: torch.Tensor


def cast(prims: list[Primitive], cam_from_local: np.ndarray, rays: Rays) -> Hits:
    """First hit of every pixel ray against primitives posed by (K, 4, 4) float64 camera-from-local transforms."""
    intr = rays.intrinsics
    best = torch.full((intr.height, intr.width), torch.inf)
    obj = torch.full((intr.height, intr.width), -1, dtype=torch.int64)
    for k, prim in enumerate(prims):
        rect = screen_rect(cam_from_local[k, :3, 3], prim.bounding_radius_m(), intr)
        if rect is None:
            continue
        v0, v1, u0, u1 = rect
        dirs = local_dirs(cam_from_local[k], rays.x[u0:u1], rays.y[v0:v1])
        t = intersect(prim, local_origin(cam_from_local[k]), dirs)
        closer = t < best[v0:v1, u0:u1]
        best[v0:v1, u0:u1] = torch.where(closer, t, best[v0:v1, u0:u1])
        obj[v0:v1, u0:u1] = torch.where(closer, k, obj[v0:v1, u0:u1])
    return Hits(torch.where(obj >= 0, best, 0.0), obj)


def local_origin(cam_from_local: np.ndarray) -> tuple[float, float, float]:
    """Camera centre in the local frame of a (4, 4) camera-from-local pose, as 3 floats."""
    rot = cam_from_local[:3, :3]
    return tuple(float(c) for c in -rot.T @ cam_from_local[:3, 3])


def local_dirs(cam_from_local: np.ndarray, x: torch.Tensor, y: torch.Tensor):
    """Local-frame direction components, each (len(y), len(x)), of camera rays (x, y, 1) on a pixel grid."""
    rot = cam_from_local[:3, :3]
    return tuple((x * float(rot[0, j]))[None, :] + (y * float(rot[1, j]) + float(rot[2, j]))[:, None] for j in range(3))


def surface(prim: Primitive, points: torch.Tensor, origin: tuple[float, float, float], tile_m: float):
    """Normals facing the viewer (N, 3), texture coordinates in metres (N, 2) and face ids (N,) int64.

    ``points`` (N, 3) are hits in the local frame, ``origin`` the camera centre in that frame. Face ids:
    box/room 2*axis + (coordinate > 0); cylinder 0 side, 1 caps; others 0. Angular coordinates wrap after a
    whole number of tiles of ``tile_m`` so textures stay seamless.
    """
    n = points.shape[0]
    face = torch.zeros(n, dtype=torch.int64)
    if prim.kind in ("room", "box"):
        ratio = points.abs() / torch.tensor(prim.size)
        axis = ratio.argmax(dim=1)
        positive = points.gather(1, axis[:, None])[:, 0] > 0
        face = 2 * axis + positive.long()
        sign = positive.float() * 2 - 1
        if prim.kind == "room":
            sign = -sign
        normal = torch.zeros(n, 3)
        normal.scatter_(1, axis[:, None], sign[:, None])
        uv = points.gather(1, _OTHER_AXES[axis])
    elif prim.kind == "sphere":
        r = prim.size[0]
        normal = points / r
        cos_polar = (points[:, 2] / r).clamp(-1.0, 1.0)
        uv = torch.stack([_wrapped_arc(points, r, tile_m), r * torch.arccos(cos_polar)], dim=1)
    elif prim.kind == "cylinder":
        r, hh = prim.size
        rho = points[:, :2].norm(dim=1)
        cap = (hh - points[:, 2].abs()) < (r - rho)
        side_normal = torch.cat([points[:, :2] / rho.clamp(min=1e-9)[:, None], torch.zeros(n, 1)], dim=1)
        cap_normal = torch.zeros(n, 3)
        cap_normal[:, 2] = torch.sign(points[:, 2])
        normal = torch.where(cap[:, None], cap_normal, side_normal)
        side_uv = torch.stack([_wrapped_arc(points, r, tile_m), points[:, 2]], dim=1)
        uv = torch.where(cap[:, None], points[:, :2], side_uv)
        face = cap.long()
    else:
        normal = torch.zeros(n, 3)
        normal[:, 2] = 1.0 if origin[2] >= 0 else -1.0
        uv = points[:, :2]
    return normal, uv, face


def _wrapped_arc(points: torch.Tensor, radius: float, tile_m: float) -> torch.Tensor:
    """Arc length around the local z axis, stretched so the circumference is a whole number of tiles."""
    tiles = max(1, round(2 * math.pi * radius / tile_m))
    return (torch.atan2(points[:, 1], points[:, 0]) / (2 * math.pi) + 0.5) * tiles * tile_m
