"""Reader of one TarTanAir sequence folder (e.g. office2/Easy/P004):

    image_left/000000_left.png            RGB, 640 x 480
    depth_left/000000_left_depth.npy      float32 (480, 640) depth in metres
    flow/000000_000001_flow.npy           optional, float32 (480, 640, 2) flow from frame 0 to frame 1
    pose_left.txt                         optional, "tx ty tz qx qy qz qw" per frame, NED body axes

Intrinsics: TarTanAir documents fx = fy = 320, cx = 320, cy = 240 for 640 x 480 images. That cx, cy is the image
centre measured from the image corner (the convention of their renderer); in our pixel-centre convention the image
centre is at (319.5, 239.5), so we use cx = 319.5, cy = 239.5. Poses are converted from TarTanAir's NED body axes
(x forward, y right, z down) to OpenCV camera axes (x right, y down, z forward); the world frame stays theirs.
Depth is returned as stored (far sky values included), with non-finite values set to 0. No LR depth is stored.
"""

from pathlib import Path

import numpy as np

from stdnet_ros.data.poses import read_pose_lines
from stdnet_ros.data.reader import DatasetError, SequenceReader, check_shape, load_npy, numbered_files, read_png
from stdnet_ros.depth.geometry import Intrinsics

TARTANAIR_INTRINSICS = Intrinsics(fx=320.0, fy=320.0, cx=319.5, cy=239.5, width=640, height=480)
# Columns: OpenCV camera axes (right, down, forward) expressed in TarTanAir's body axes (forward, right, down).
OPENCV_IN_NED_BODY = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def is_tartanair_sequence(path: Path) -> bool:
    """Whether ``path`` looks like a TarTanAir sequence (it has image_left/)."""
    return (path / "image_left").is_dir()


class TartanAirSequence(SequenceReader):
    """Reader of a TarTanAir sequence folder; numbering is checked on opening, each file when it is read."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.name = self.path.name
        self.intrinsics = TARTANAIR_INTRINSICS
        self._count = self._frames("image_left", "_left.png")
        depth_count = self._frames("depth_left", "_left_depth.npy")
        if depth_count != self._count:
            raise DatasetError(f"{self.path}: image_left/ has {self._count} frames but depth_left/ has {depth_count}")
        if self._count == 0:
            raise DatasetError(f"{self.path / 'image_left'}: no frames")
        self.has_flow = (self.path / "flow").is_dir()
        pose_file = self.path / "pose_left.txt"
        self.poses = None
        if pose_file.exists():
            ned = read_pose_lines(pose_file, 7, self._count)
            self.poses = ned.copy()
            self.poses[:, :3, :3] = ned[:, :3, :3] @ OPENCV_IN_NED_BODY

    def _frames(self, sub: str, suffix: str) -> int:
        folder = self.path / sub
        if not folder.is_dir():
            raise DatasetError(f"{folder}: missing folder")
        return numbered_files(folder, suffix)

    def __len__(self) -> int:
        return self._count

    def rgb(self, i: int) -> np.ndarray:
        path = self.path / "image_left" / f"{self.check_index(i):06d}_left.png"
        return check_shape(path, read_png(path, 3, np.uint8), (self.intrinsics.height, self.intrinsics.width, 3))

    def depth(self, i: int) -> np.ndarray:
        path = self.path / "depth_left" / f"{self.check_index(i):06d}_left_depth.npy"
        depth = check_shape(path, load_npy(path), (self.intrinsics.height, self.intrinsics.width))
        depth = depth.astype(np.float32)
        return np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)

    def lr(self, i: int, scale: int) -> None:
        self.check_index(i)
        return None

    def flow(self, i: int) -> np.ndarray | None:
        if not self.has_flow:
            return None
        shape = (self.intrinsics.height, self.intrinsics.width, 2)
        if self.check_index(i) == 0:
            return np.full(shape, np.nan, dtype=np.float32)
        path = self.path / "flow" / f"{i - 1:06d}_{i:06d}_flow.npy"
        return check_shape(path, load_npy(path), shape).astype(np.float32, copy=False)
