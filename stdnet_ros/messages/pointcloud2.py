"""sensor_msgs/PointCloud2 from the organized cloud buffers of :mod:`stdnet_ros.depth.cloud_arrays`.

The message classes are passed in (rclpy's ``sensor_msgs.msg.PointCloud2`` / ``PointField``, or a rosbags
typestore's), so the same code serves the node and the bag tools.
"""

import array

import numpy as np

from stdnet_ros.depth.cloud_arrays import XYZ_DTYPE, XYZRGB_DTYPE, cloud_buffer, cloud_shape
from stdnet_ros.depth.geometry import Intrinsics
from stdnet_ros.messages.image import with_uint8_payload

FLOAT32 = 7  # sensor_msgs/PointField.FLOAT32


def _empty_pointcloud2(cloud_dtype: np.dtype, shape: tuple[int, int], header, pointcloud2_cls, pointfield_cls):
    """Organized PointCloud2 (is_dense False, little-endian) with one FLOAT32 PointField per dtype field; no data."""
    if cloud_dtype.names is None or cloud_dtype.fields is None:
        raise ValueError(f"cloud: expected a structured dtype of float32 fields, got {cloud_dtype}")
    fields = []
    for name in cloud_dtype.names:
        field_dtype, offset = cloud_dtype.fields[name][:2]
        if field_dtype != np.dtype("<f4"):
            raise ValueError(f"cloud: field {name!r} is {field_dtype} (expected little-endian float32)")
        fields.append(pointfield_cls(name=name, offset=offset, datatype=FLOAT32, count=1))
    height, width = shape
    return pointcloud2_cls(
        header=header,
        height=height,
        width=width,
        fields=fields,
        is_bigendian=False,
        point_step=cloud_dtype.itemsize,
        row_step=cloud_dtype.itemsize * width,
        data=[],
        is_dense=False,
    )


def cloud_to_pointcloud2(cloud: np.ndarray, header, pointcloud2_cls, pointfield_cls):
    """PointCloud2 (height h, width w) holding a copy of an (h, w) structured cloud from ``cloud_buffer``.

    point_step is the dtype's itemsize (16 for xyz, 32 for xyzrgb); ``header`` (stamp, frame_id) is used as
    given. Works for rclpy and rosbags message classes.
    """
    if cloud.ndim != 2 or cloud.dtype.names is None or cloud.size == 0:
        raise ValueError(f"cloud: expected a non-empty (h, w) structured array, got {cloud.dtype} {cloud.shape}")
    msg = _empty_pointcloud2(cloud.dtype, cloud.shape, header, pointcloud2_cls, pointfield_cls)
    return with_uint8_payload(msg, cloud)


class CloudMessage:
    """An rclpy PointCloud2 refilled in place every frame: no per-frame allocation of the 5-10 MB payload.

    Allocating and first touching fresh 9.8 MB buffers costs ~5000 page faults (~8 ms) per xyzrgb frame on
    this machine; reusing one buffer avoids it. :meth:`fill` returns the same message object each time, so
    publish it (rclpy serialises during ``publish``) before the next ``fill``; never keep it or hand it to
    another thread. For rosbags classes use :func:`cloud_to_pointcloud2`.
    """

    def __init__(self, pointcloud2_cls, pointfield_cls):
        self._classes = (pointcloud2_cls, pointfield_cls)
        self._msg = None
        self._points = None  # (h, w) structured view of self._msg.data

    def fill(self, depth_m: np.ndarray, intr: Intrinsics, header, rgb: np.ndarray | None = None, decimation: int = 1):
        """The PointCloud2 of ``cloud_buffer(depth_m, intr, rgb, decimation)`` with ``header``."""
        dtype = XYZ_DTYPE if rgb is None else XYZRGB_DTYPE
        shape = cloud_shape(intr, decimation)
        if self._points is None or self._points.dtype != dtype or self._points.shape != shape:
            self._points = None  # release the view so the old array can be freed
            self._msg = _empty_pointcloud2(dtype, shape, header, *self._classes)
            self._msg.data = array.array("B", bytes(dtype.itemsize * shape[0] * shape[1]))
            self._points = np.frombuffer(self._msg.data, dtype=dtype).reshape(shape)
        cloud_buffer(depth_m, intr, rgb, decimation, out=self._points)
        self._msg.header = header
        return self._msg
