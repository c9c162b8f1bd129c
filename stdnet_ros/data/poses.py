"""Pose text files: TUM lines "t tx ty tz qx qy qz qw" (metres, unit quaternion, camera-to-world)."""

from pathlib import Path

import numpy as np

from stdnet_ros.data.reader import DatasetError


def matrix_to_quat(rot: np.ndarray) -> np.ndarray:
    """(4,) unit quaternion (qx, qy, qz, qw) with qw >= 0 of a (3, 3) rotation matrix (Shepperd's method)."""
    trace = np.trace(rot)
    candidates = [trace, rot[0, 0], rot[1, 1], rot[2, 2]]
    k = int(np.argmax(candidates))
    if k == 0:
        w = np.sqrt(1.0 + trace) / 2
        q = np.array([rot[2, 1] - rot[1, 2], rot[0, 2] - rot[2, 0], rot[1, 0] - rot[0, 1], 4 * w * w]) / (4 * w)
    else:
        i, j, m = k - 1, k % 3, (k + 1) % 3
        r = np.sqrt(1.0 + rot[i, i] - rot[j, j] - rot[m, m]) / 2
        q = np.empty(4)
        q[i] = r
        q[j] = (rot[j, i] + rot[i, j]) / (4 * r)
        q[m] = (rot[m, i] + rot[i, m]) / (4 * r)
        q[3] = (rot[m, j] - rot[j, m]) / (4 * r)
    return q if q[3] >= 0 else -q


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix of a quaternion (qx, qy, qz, qw), normalised first."""
    x, y, z, w = np.asarray(q, float) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def tum_line(time_s: float, pose: np.ndarray) -> str:
    """One TUM line for a (4, 4) camera-to-world pose."""
    values = [time_s, *pose[:3, 3], *matrix_to_quat(pose[:3, :3])]
    return " ".join(f"{v:.9f}" for v in values)


def read_pose_lines(path: Path, columns: int, count: int) -> np.ndarray:
    """(count, 4, 4) float64 poses from a text file of ``count`` lines "[t] tx ty tz qx qy qz qw" (columns 8 or 7)."""
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    except OSError as err:
        raise DatasetError(f"{path}: unreadable ({err})") from err
    if len(lines) != count:
        raise DatasetError(f"{path}: {len(lines)} poses for {count} frames")
    poses = np.tile(np.eye(4), (count, 1, 1))
    for n, line in enumerate(lines):
        try:
            values = [float(v) for v in line.split()]
        except ValueError:
            values = []
        if len(values) != columns or not np.all(np.isfinite(values)) or np.linalg.norm(values[-4:]) == 0:
            raise DatasetError(f"{path}: line {n + 1} is not {columns} finite numbers with a non-zero quaternion")
        poses[n, :3, 3] = values[-7:-4]
        poses[n, :3, :3] = quat_to_matrix(np.array(values[-4:]))
    return poses
