"""The sequence-reader interface shared by every dataset layout, its error type and checked file readers."""

import re
from abc import ABC, abstractmethod
from pathlib import Path

import cv2
import numpy as np

from stdnet_ros.depth.geometry import Intrinsics


class DatasetError(ValueError):
    """A dataset on disk is missing something or is malformed; the message names the file and the problem."""


class SequenceReader(ABC):
    """Random access to one RGB-D sequence on disk.

    ``name`` (str), ``intrinsics`` (HR, pixel-centre convention) and ``poses`` ((N, 4, 4) float64 camera-to-world
    with OpenCV camera axes, or None) are attributes; frames are read on demand.
    """

    name: str
    intrinsics: Intrinsics
    poses: np.ndarray | None

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def rgb(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB of frame i."""

    @abstractmethod
    def depth(self, i: int) -> np.ndarray:
        """(H, W) float32 HR depth of frame i in metres, 0 = invalid."""

    @abstractmethod
    def lr(self, i: int, scale: int) -> np.ndarray | None:
        """(H/s, W/s) float32 stored LR depth of frame i in metres (0 = invalid), or None when not stored."""

    @abstractmethod
    def flow(self, i: int) -> np.ndarray | None:
        """(H, W, 2) float32 forward flow from frame i-1 to i in HR pixels (NaN = unknown, all NaN for frame 0),
        or None when the sequence has no flow."""

    def check_index(self, i: int) -> int:
        if not 0 <= i < len(self):
            raise IndexError(f"{self.name}: frame {i} out of range [0, {len(self)})")
        return i


def numbered_files(folder: Path, suffix: str, first: int = 0) -> int:
    """Number of frames in ``folder`` named <6-digit number><suffix>, checked to be contiguous from ``first``.

    Hidden files and files with another suffix are ignored; a file with the suffix but no 6-digit number is an error.
    """
    regex = re.compile(r"(\d{6})" + re.escape(suffix))
    numbers = []
    for path in folder.iterdir():
        if path.name.startswith(".") or not path.name.endswith(suffix):
            continue
        match = regex.fullmatch(path.name)
        if match is None:
            raise DatasetError(f"{path}: unexpected file name, expected 6 digits as in {first:06d}{suffix}")
        numbers.append(int(match.group(1)))
    numbers.sort()
    for expected, number in enumerate(numbers, start=first):
        if number != expected:
            raise DatasetError(f"{folder}: frame numbers are not contiguous, {expected:06d}{suffix} is missing")
    return len(numbers)


def read_png(path: Path, channels: int, dtype: type) -> np.ndarray:
    """A PNG as stored (no conversion), checked to have ``channels`` (1 = (H, W)) and ``dtype``; RGB order for 3."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DatasetError(f"{path}: missing or unreadable image")
    got_channels = 1 if image.ndim == 2 else image.shape[2]
    if image.dtype != dtype or got_channels != channels:
        raise DatasetError(
            f"{path}: expected {channels}-channel {np.dtype(dtype).name}, got {got_channels}-channel {image.dtype.name}"
        )
    return image[..., ::-1].copy() if channels == 3 else image


def check_shape(path: Path, array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if array.shape != shape:
        raise DatasetError(f"{path}: expected shape {shape}, got {array.shape}")
    return array


def load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path)
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: unreadable .npy file ({err})") from err
