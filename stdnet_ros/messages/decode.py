"""One entry per input kind for the node and the bag tools: an Image or a CompressedImage, told apart by its fields."""

import numpy as np

from .compressed import compressed_depth_to_m, compressed_to_rgb, is_compressed
from .image import image_to_depth_m, image_to_rgb


def decode_rgb(msg, name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an Image (image.py) or a ``compressed`` CompressedImage (compressed.py)."""
    return compressed_to_rgb(msg, name) if is_compressed(msg) else image_to_rgb(msg, name)


def decode_depth_m(msg, name: str) -> np.ndarray:
    """(H, W) float32 metres, NaN invalid, of an Image or a ``compressedDepth`` CompressedImage."""
    return compressed_depth_to_m(msg, name) if is_compressed(msg) else image_to_depth_m(msg, name)
