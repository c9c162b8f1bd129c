"""Tiling colour textures: photos from scikit-image's bundled data plus procedural patterns, with mip levels.

A texture is stored as square (S, S, 3) float32 RGB in [0, 1] and tiles the surface every ``tile_m`` metres.
Two disjoint pools: ``TRAINING_TEXTURES`` for the train and val splits, ``HELD_OUT_TEXTURES`` for the test split
only, so a test table measures generalisation to appearance the network never saw.
"""

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch
import torch.nn.functional as F

TEXTURE_SIZE = 256  # texels per tile side at mip level 0
MIN_MIP_SIZE = 4
# skimage.data images that ship inside the scikit-image wheel (no download).
PHOTO_NAMES = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "rocket",
    "moon",
    "immunohistochemistry",
    "hubble_deep_field",
    "cell",
    "page",
    "text",
    "colorwheel",
)
PROCEDURAL_NAMES = ("checker", "stripes", "blobs")
HELD_OUT_PHOTO_NAMES = ("retina", "clock", "logo", "microaneurysms")  # also bundled, never in a training scene
HELD_OUT_PROCEDURAL_NAMES = ("dots", "waves")


@dataclass(frozen=True)
class TexturePool:
    """The photo and procedural names a split's scenes draw from."""

    photos: tuple[str, ...]
    procedurals: tuple[str, ...]


TRAINING_TEXTURES = TexturePool(PHOTO_NAMES, PROCEDURAL_NAMES)
HELD_OUT_TEXTURES = TexturePool(HELD_OUT_PHOTO_NAMES, HELD_OUT_PROCEDURAL_NAMES)


@lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """(S, S, 3) float32 RGB in [0, 1]: the central square of skimage.data.<name>, resized to TEXTURE_SIZE."""
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)())
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    img = img[..., :3].astype(np.float32) / 255.0
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = np.ascontiguousarray(img[top : top + side, left : left + side])
    return cv2.resize(square, (TEXTURE_SIZE, TEXTURE_SIZE), interpolation=cv2.INTER_AREA)


def procedural(name: str, rng: np.random.Generator) -> np.ndarray:
    """(S, S, 3) float32 RGB in [0, 1]: a random two-colour checker, stripes, smooth colour blobs, a grid of round
    dots or diagonal sine waves (all tileable)."""
    n = TEXTURE_SIZE
    c0, c1 = rng.uniform(0.1, 1.0, (2, 3)).astype(np.float32)
    coords = (np.arange(n) + 0.5) / n
    if name == "checker":
        k = 2 * int(rng.integers(1, 5))  # an even cell count, so the tile wraps seamlessly
        mask = ((np.floor(coords * k)[:, None] + np.floor(coords * k)[None, :]) % 2).astype(np.float32)
    elif name == "stripes":
        k = 2 * int(rng.integers(1, 9))
        mask = np.broadcast_to((np.floor(coords * k) % 2).astype(np.float32)[None, :], (n, n))
    elif name == "blobs":
        k = int(2 ** rng.integers(2, 4))  # 4 or 8 cells, dividing TEXTURE_SIZE so the tile wraps seamlessly
        grid = rng.uniform(0.0, 1.0, (1, 1, k, k)).astype(np.float32)
        wrapped = torch.from_numpy(np.pad(grid, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="wrap"))
        up = F.interpolate(wrapped, scale_factor=n // k, mode="bicubic", align_corners=False)
        pad = n // k
        mask = up[0, 0, pad : pad + n, pad : pad + n].clamp(0.0, 1.0).numpy()
    elif name == "dots":
        k = int(rng.integers(2, 7))  # k x k dots per tile
        cell = (coords * k) % 1.0 - 0.5
        radius = rng.uniform(0.2, 0.45)
        mask = ((cell[:, None] ** 2 + cell[None, :] ** 2) < radius**2).astype(np.float32)
    elif name == "waves":
        kx, ky = (int(4 * 2**v) for v in rng.integers(0, 2, 2))  # 4 or 8 whole periods per tile on each axis
        mask = 0.5 + 0.5 * np.sin(2 * np.pi * (kx * coords[None, :] + ky * coords[:, None])).astype(np.float32)
    else:
        names = PROCEDURAL_NAMES + HELD_OUT_PROCEDURAL_NAMES
        raise ValueError(f"procedural texture: unknown name {name!r}, expected one of {names}")
    return c0 + (c1 - c0) * mask[..., None]


@dataclass(frozen=True, eq=False)
class Texture:
    """Mip levels of a tile, level 0 first, each (S_l, S_l, 3) float32 RGB; one tile spans tile_m metres."""

    levels: tuple[torch.Tensor, ...]
    tile_m: float
    name: str = ""  # the photo or procedural pattern it was made from

    @classmethod
    def from_image(cls, image: np.ndarray, tile_m: float, name: str = "") -> "Texture":
        """Build the mip pyramid (2x2 box filter) of an (S, S, 3) float RGB image in [0, 1], S a power of two."""
        level = np.asarray(image, dtype=np.float32)
        levels = [level]
        while level.shape[0] // 2 >= MIN_MIP_SIZE:
            s = level.shape[0] // 2
            level = level.reshape(s, 2, s, 2, 3).mean(axis=(1, 3))
            levels.append(level)
        return cls(tuple(torch.from_numpy(np.ascontiguousarray(lv)) for lv in levels), float(tile_m), name)

    def sample(self, uv_m: torch.Tensor, footprint_m: torch.Tensor) -> torch.Tensor:
        """(N, 3) colours at (N, 2) surface coordinates in metres; the (N,) pixel footprint in metres picks the mip."""
        texel0_m = self.tile_m / self.levels[0].shape[0]
        lod = torch.log2(footprint_m / texel0_m).round().clamp(0, len(self.levels) - 1).long()
        lo, hi = (int(v) for v in torch.aminmax(lod))
        if lo == hi:
            return _bilinear_wrap(self.levels[lo], uv_m / self.tile_m)
        out = torch.empty(uv_m.shape[0], 3)
        for level_index in range(lo, hi + 1):
            sel = lod == level_index
            out[sel] = _bilinear_wrap(self.levels[level_index], uv_m[sel] / self.tile_m)
        return out


def _bilinear_wrap(image: torch.Tensor, uv_tiles: torch.Tensor) -> torch.Tensor:
    """(N, 3) bilinear samples of an (S, S, 3) tile at (N, 2) coordinates in tiles, wrapping at the borders."""
    size = image.shape[0]
    x = uv_tiles[:, 0] * size - 0.5
    y = uv_tiles[:, 1] * size - 0.5
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    xi0, yi0 = x0.long() % size, y0.long() % size
    xi1, yi1 = (xi0 + 1) % size, (yi0 + 1) % size
    flat = image.reshape(-1, 3)
    top = flat[yi0 * size + xi0] * (1 - fx) + flat[yi0 * size + xi1] * fx
    bottom = flat[yi1 * size + xi0] * (1 - fx) + flat[yi1 * size + xi1] * fx
    return top * (1 - fy) + bottom * fy


def random_texture(rng: np.random.Generator, pool: TexturePool = TRAINING_TEXTURES) -> Texture:
    """A random photo (tinted) or procedural texture of ``pool`` with a random tile size of 0.5-3 m."""
    if rng.uniform() < 0.6:
        name = pool.photos[int(rng.integers(len(pool.photos)))]
        image = photo(name) * rng.uniform(0.6, 1.0, 3).astype(np.float32)
    else:
        name = pool.procedurals[int(rng.integers(len(pool.procedurals)))]
        image = procedural(name, rng)
    return Texture.from_image(image, tile_m=rng.uniform(0.5, 3.0), name=name)
