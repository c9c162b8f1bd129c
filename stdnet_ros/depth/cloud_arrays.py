"""Organized point-cloud buffers from depth (metres) + intrinsics (+ RGB), ROS-free.

The per-frame core shared by the node (stdnet_ros.messages.pointcloud2 wraps it into a PointCloud2) and the bag tools.
Layouts are those of depth_image_proc / PCL (``PointCloud2Modifier::setPointCloud2FieldsByString``):

* ``xyz``: x, y, z float32 at byte offsets 0, 4, 8; point_step 16 (4 zero padding bytes).
* ``xyzrgb``: x, y, z as above, ``rgb`` at offset 16: a float32 whose bytes are B, G, R, 0 (the uint32
  0x00RRGGBB), point_step 32 (zero padding).

Points are in the camera optical frame in metres; invalid depth (NaN, inf, <= 0) gives NaN x, y, z and the
cloud stays organized (H rows x W columns). All values little-endian.
"""

from functools import lru_cache

import numpy as np

from stdnet_ros.depth.geometry import Intrinsics, pixel_rays

XYZ_DTYPE = np.dtype({"names": ["x", "y", "z"], "formats": ["<f4"] * 3, "offsets": [0, 4, 8], "itemsize": 16})
XYZRGB_DTYPE = np.dtype(
    {"names": ["x", "y", "z", "rgb"], "formats": ["<f4"] * 4, "offsets": [0, 4, 8, 16], "itemsize": 32}
)


def cloud_shape(intr: Intrinsics, decimation: int = 1) -> tuple[int, int]:
    """(h, w) of the organized cloud of an image with these intrinsics: (ceil(H / d), ceil(W / d))."""
    return -(-intr.height // decimation), -(-intr.width // decimation)


def decimate_intrinsics(intr: Intrinsics, decimation: int) -> Intrinsics:
    """Intrinsics of the grid of full-resolution pixels (u * d, v * d): fx / d, cx / d (not ``scaled(1 / d)``).

    Decimation keeps whole pixels, so the kept pixel u' sits at full-resolution centre d * u' and its ray is
    (d * u' - cx) / fx = (u' - cx / d) / (fx / d). ``Intrinsics.scaled`` is for resampling, where the new
    pixel covers d old pixels and its centre is d * u' + (d - 1) / 2; using it here would shift every point
    by (d - 1) / 2 pixels.
    """
    if decimation < 1:
        raise ValueError(f"decimation: {decimation} < 1")
    d = decimation
    height, width = cloud_shape(intr, d)
    return Intrinsics(fx=intr.fx / d, fy=intr.fy / d, cx=intr.cx / d, cy=intr.cy / d, width=width, height=height)


@lru_cache(maxsize=8)
def _rays(intr: Intrinsics, decimation: int) -> np.ndarray:
    """(h, w, 2) float32 ray slopes of the decimated grid, computed once per (intrinsics, decimation)."""
    rays = pixel_rays(decimate_intrinsics(intr, decimation))
    rays.setflags(write=False)
    return rays


def cloud_buffer(
    depth_m: np.ndarray,
    intr: Intrinsics,
    rgb: np.ndarray | None = None,
    decimation: int = 1,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Organized cloud as an (h, w) structured array of ``XYZ_DTYPE`` (no rgb) or ``XYZRGB_DTYPE``.

    :param depth_m: (H, W) z-depth in metres, H x W = intr.height x intr.width; NaN, inf or <= 0 is invalid.
    :param rgb: optional (H, W, 3) uint8 RGB aligned with the depth (same pixel grid).
    :param decimation: keep every d-th row and column starting at pixel (0, 0): h = ceil(H / d), w = ceil(W / d).
    :param out: optional C-contiguous (h, w) array of the result dtype to fill in place instead of allocating
        (e.g. a view of a reused message buffer); only x, y, z and the B, G, R bytes are written, so its
        padding must be zero already (as in any buffer this function filled before).
    The point of kept pixel (u, v) is exactly the back-projection of full-resolution pixel (d * u, d * v).
    """
    if depth_m.shape != (intr.height, intr.width):
        raise ValueError(f"depth: shape {depth_m.shape} != intrinsics (height {intr.height}, width {intr.width})")
    if rgb is not None and (rgb.shape != depth_m.shape + (3,) or rgb.dtype != np.uint8):
        raise ValueError(
            f"rgb: expected uint8 {depth_m.shape + (3,)} aligned with the depth, got {rgb.dtype} {rgb.shape}"
        )
    rays = _rays(intr, decimation)
    depth = depth_m[::decimation, ::decimation]
    dtype = XYZ_DTYPE if rgb is None else XYZRGB_DTYPE
    h, w = rays.shape[:2]
    if out is None:
        out = np.zeros((h, w), dtype=dtype)  # zero padding, never stale memory
    elif out.dtype != dtype or out.shape != (h, w) or not out.flags.c_contiguous:
        raise ValueError(f"out: expected a C-contiguous ({h}, {w}) array of {dtype}, got {out.dtype} {out.shape}")
    floats = out.view(np.float32).reshape(h, w, dtype.itemsize // 4)
    z = floats[..., 2]
    np.copyto(z, depth, casting="same_kind")
    z[~(np.isfinite(z) & (z > 0))] = np.nan
    np.multiply(rays[..., 0], z, out=floats[..., 0])
    np.multiply(rays[..., 1], z, out=floats[..., 1])
    if rgb is not None:
        point_bytes = floats.view(np.uint8)  # (h, w, 32): rgb float at bytes 16..19 = B, G, R, 0
        kept = rgb[::decimation, ::decimation]
        point_bytes[..., 16] = kept[..., 2]
        point_bytes[..., 17] = kept[..., 1]
        point_bytes[..., 18] = kept[..., 0]
    return out


def unpack_rgb(cloud: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 RGB decoded from the packed ``rgb`` float of an ``XYZRGB_DTYPE`` cloud."""
    packed = np.ascontiguousarray(cloud["rgb"]).view("<u4")
    return np.stack([(packed >> 16) & 0xFF, (packed >> 8) & 0xFF, packed & 0xFF], axis=-1).astype(np.uint8)
