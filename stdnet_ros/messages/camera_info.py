"""sensor_msgs/CameraInfo <-> :class:`stdnet_ros.depth.geometry.Intrinsics` (pixels, OpenCV pixel-centre convention)."""

import math

from stdnet_ros.depth.geometry import Intrinsics


class CameraInfoError(ValueError):
    """A CameraInfo message cannot give usable pinhole intrinsics."""


def intrinsics_from_camera_info(msg, name: str = "camera_info") -> Intrinsics:
    """Intrinsics from K (fx = k[0], fy = k[4], cx = k[2], cy = k[5]) and width/height of a CameraInfo.

    Reads only fields, so rclpy messages and rosbags dataclasses both work. K describes the image the camera
    publishes; for rectified (``image_rect``) topics with zero distortion it equals P's left 3x3 block.
    Raises :class:`CameraInfoError` naming the field for an uncalibrated (zero) or non-finite K or a zero size.
    """
    k = [float(v) for v in msg.k]
    if len(k) != 9:
        raise CameraInfoError(f"{name}: k has {len(k)} entries (expected 9)")
    for index, label in ((0, "fx"), (4, "fy")):
        if not (math.isfinite(k[index]) and k[index] > 0):
            raise CameraInfoError(
                f"{name}: k[{index}] ({label}) is {k[index]} (expected a finite value > 0; is the camera calibrated?)"
            )
    for index, label in ((2, "cx"), (5, "cy")):
        if not math.isfinite(k[index]):
            raise CameraInfoError(f"{name}: k[{index}] ({label}) is {k[index]} (expected a finite value)")
    if msg.width <= 0 or msg.height <= 0:
        raise CameraInfoError(f"{name}: zero image size (width {msg.width}, height {msg.height})")
    return Intrinsics(fx=k[0], fy=k[4], cx=k[2], cy=k[5], width=int(msg.width), height=int(msg.height))


def camera_info_from_intrinsics(intr: Intrinsics, camera_info_cls, header):
    """A ``camera_info_cls`` (rclpy's sensor_msgs.msg.CameraInfo, passed in like the image and cloud classes) of an
    undistorted pinhole camera: K and P from ``intr``, R identity, plumb_bob with D = 0."""
    return camera_info_cls(
        header=header,
        width=intr.width,
        height=intr.height,
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        k=[intr.fx, 0.0, intr.cx, 0.0, intr.fy, intr.cy, 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[intr.fx, 0.0, intr.cx, 0.0, 0.0, intr.fy, intr.cy, 0.0, 0.0, 0.0, 1.0, 0.0],
    )
