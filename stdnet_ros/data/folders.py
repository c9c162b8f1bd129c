"""The project's dataset folder layout (the interchange format), one folder per sequence:

    <seq>/rgb/000000.png       8-bit RGB, HR
    <seq>/depth/000000.png     16-bit PNG, HR depth in millimetres, 0 = invalid
    <seq>/intrinsics.json      {"fx", "fy", "cx", "cy", "width", "height"} (HR, pixel-centre convention)
    <seq>/poses.txt            optional, TUM lines "t tx ty tz qx qy qz qw", camera-to-world, one per frame
    <seq>/flow/000001.npy      optional, float32 (H, W, 2) forward flow from frame t-1 to t in HR pixels, NaN = unknown
    <seq>/lr_x4/000000.png     optional, 16-bit LR depth in millimetres (also lr_x8, lr_x16, ...)

Frame numbers have 6 digits and are contiguous from 0; HR width and height are multiples of 16 and of every
stored LR scale.
"""

import json
import re
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import torch

from stdnet_ros.data.poses import read_pose_lines, tum_line
from stdnet_ros.data.reader import DatasetError, SequenceReader, check_shape, load_npy, numbered_files, read_png
from stdnet_ros.data.scene import FPS
from stdnet_ros.data.synthetic import SIZE_MULTIPLE, Frame
from stdnet_ros.depth.degradation import Degradation
from stdnet_ros.depth.geometry import Intrinsics

MM_PER_M = 1000.0
MAX_PNG_MM = 65535
LR_FOLDER = re.compile(r"lr_x(\d+)")


def is_folder_sequence(path: Path) -> bool:
    """Whether ``path`` looks like a sequence of this layout (it has rgb/ or depth/)."""
    return (path / "rgb").is_dir() or (path / "depth").is_dir()


def depth_to_png_mm(depth_m: np.ndarray) -> np.ndarray:
    """uint16 millimetres of float depth in metres; invalid (<= 0, non-finite) and > 65.535 m depths become 0."""
    mm = np.round(np.nan_to_num(depth_m, nan=0.0, posinf=0.0, neginf=0.0) * MM_PER_M)
    return np.where((mm > 0) & (mm <= MAX_PNG_MM), mm, 0).astype(np.uint16)


def _write_png(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise OSError(f"{path}: could not write PNG")


def write_sequence(
    path: str | Path,
    frames: Iterable[Frame],
    scales: Iterable[int] = (4, 8, 16),
    degradation: Degradation = Degradation(),
    seed: int = 0,
) -> int:
    """Write frames in the folder layout and return how many were written.

    LR depth for each scale in ``scales`` is simulated with ``degradation`` (its random parts seeded by ``seed``)
    into lr_x{s}/. Flow is written for frames 1.., poses for every frame (TUM time = index / 30 fps).
    """
    root = Path(path)
    scales = tuple(scales)
    generator = torch.Generator().manual_seed(seed)
    poses = []
    count = 0
    for i, frame in enumerate(frames):
        intr = frame.intrinsics
        if i == 0:
            _check_size(root / "intrinsics.json", intr.width, intr.height, scales)
            for sub in ("rgb", "depth", "flow", *(f"lr_x{s}" for s in scales)):
                (root / sub).mkdir(parents=True, exist_ok=True)
            (root / "intrinsics.json").write_text(json.dumps(intr.to_dict(), indent=2) + "\n")
        _write_png(root / "rgb" / f"{i:06d}.png", np.ascontiguousarray(frame.rgb[..., ::-1]))
        _write_png(root / "depth" / f"{i:06d}.png", depth_to_png_mm(frame.depth_m))
        if i > 0:
            np.save(root / "flow" / f"{i:06d}.npy", frame.flow.astype(np.float32))
        depth_t = torch.from_numpy(frame.depth_m)
        rgb_t = torch.from_numpy(frame.rgb).permute(2, 0, 1)
        for s in scales:
            lr = degradation.apply(depth_t, rgb_t, s, generator).numpy()
            _write_png(root / f"lr_x{s}" / f"{i:06d}.png", depth_to_png_mm(lr))
        poses.append(tum_line(i / FPS, frame.pose_c2w))
        count = i + 1
    if count:
        (root / "poses.txt").write_text("\n".join(poses) + "\n")
    return count


def _check_size(path: Path, width: int, height: int, scales: Iterable[int]) -> None:
    for s in (SIZE_MULTIPLE, *scales):
        if width % s or height % s:
            raise DatasetError(f"{path}: size {width}x{height} is not divisible by {s}")


def read_intrinsics(path: Path) -> Intrinsics:
    """Intrinsics from a JSON file, with an error naming the file and the missing or bad field."""
    if not path.is_file():
        raise DatasetError(f"{path}: missing (the HR camera intrinsics)")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object with fx, fy, cx, cy, width, height")
    for key in ("fx", "fy", "cx", "cy", "width", "height"):
        if key not in data:
            raise DatasetError(f"{path}: missing field {key!r}")
        if not isinstance(data[key], (int, float)) or isinstance(data[key], bool) or not np.isfinite(data[key]):
            raise DatasetError(f"{path}: field {key!r} must be a finite number, got {data[key]!r}")
    for key in ("fx", "fy", "width", "height"):
        if data[key] <= 0:
            raise DatasetError(f"{path}: field {key!r} must be positive, got {data[key]}")
    for key in ("width", "height"):
        if data[key] != int(data[key]):
            raise DatasetError(f"{path}: field {key!r} must be an integer, got {data[key]}")
    return Intrinsics.from_dict(data)


class FolderSequence(SequenceReader):
    """Reader of one sequence folder; the layout is checked on opening, each image when it is read."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.name = self.path.name
        self.intrinsics = read_intrinsics(self.path / "intrinsics.json")
        self._count = self._frames("rgb", ".png")
        depth_count = self._frames("depth", ".png")
        if depth_count != self._count:
            raise DatasetError(f"{self.path}: rgb/ has {self._count} frames but depth/ has {depth_count}")
        if self._count == 0:
            raise DatasetError(f"{self.path / 'rgb'}: no frames")
        _check_size(self.path / "intrinsics.json", self.intrinsics.width, self.intrinsics.height, ())
        self.scales = self._lr_scales()
        self.has_flow = (self.path / "flow").is_dir()
        if self.has_flow:
            flow_count = numbered_files(self.path / "flow", ".npy", first=1)
            if flow_count != self._count - 1:
                raise DatasetError(
                    f"{self.path / 'flow'}: {flow_count} flow files for {self._count} frames "
                    f"(expected 000001.npy to {self._count - 1:06d}.npy)"
                )
        pose_file = self.path / "poses.txt"
        self.poses = read_pose_lines(pose_file, 8, self._count) if pose_file.exists() else None

    def _frames(self, sub: str, suffix: str) -> int:
        folder = self.path / sub
        if not folder.is_dir():
            raise DatasetError(f"{folder}: missing folder")
        return numbered_files(folder, suffix)

    def _lr_scales(self) -> tuple[int, ...]:
        scales = []
        for folder in sorted(self.path.iterdir()):
            match = LR_FOLDER.fullmatch(folder.name)
            if match is None or not folder.is_dir():
                continue
            scale = int(match.group(1))
            width, height = self.intrinsics.width, self.intrinsics.height
            if scale < 1 or width % scale or height % scale:
                raise DatasetError(f"{folder}: HR size {width}x{height} is not divisible by the scale {scale}")
            count = numbered_files(folder, ".png")
            if count != self._count:
                raise DatasetError(f"{folder}: {count} frames but depth/ has {self._count}")
            scales.append(scale)
        return tuple(sorted(scales))

    def __len__(self) -> int:
        return self._count

    def rgb(self, i: int) -> np.ndarray:
        path = self.path / "rgb" / f"{self.check_index(i):06d}.png"
        return check_shape(path, read_png(path, 3, np.uint8), (self.intrinsics.height, self.intrinsics.width, 3))

    def depth(self, i: int) -> np.ndarray:
        path = self.path / "depth" / f"{self.check_index(i):06d}.png"
        mm = check_shape(path, read_png(path, 1, np.uint16), (self.intrinsics.height, self.intrinsics.width))
        return mm.astype(np.float32) / MM_PER_M

    def lr(self, i: int, scale: int) -> np.ndarray | None:
        if scale not in self.scales:
            return None
        path = self.path / f"lr_x{scale}" / f"{self.check_index(i):06d}.png"
        shape = (self.intrinsics.height // scale, self.intrinsics.width // scale)
        return check_shape(path, read_png(path, 1, np.uint16), shape).astype(np.float32) / MM_PER_M

    def flow(self, i: int) -> np.ndarray | None:
        if not self.has_flow:
            return None
        shape = (self.intrinsics.height, self.intrinsics.width, 2)
        if self.check_index(i) == 0:
            return np.full(shape, np.nan, dtype=np.float32)
        path = self.path / "flow" / f"{i:06d}.npy"
        return check_shape(path, load_npy(path), shape).astype(np.float32, copy=False)
