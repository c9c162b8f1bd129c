"""Organized cloud buffers (cloud_arrays), their PointCloud2 wrapping and CameraInfo <-> Intrinsics."""

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo, PointCloud2, PointField
from std_msgs.msg import Header

from stdnet_ros.depth import cloud_arrays
from stdnet_ros.depth.cloud_arrays import XYZ_DTYPE, XYZRGB_DTYPE, cloud_buffer, decimate_intrinsics, unpack_rgb
from stdnet_ros.depth.geometry import Intrinsics, backproject, pixel_rays
from stdnet_ros.messages.camera_info import CameraInfoError, camera_info_from_intrinsics, intrinsics_from_camera_info
from stdnet_ros.messages.pointcloud2 import CloudMessage, cloud_to_pointcloud2

INTR = Intrinsics(fx=52.5, fy=51.0, cx=15.2, cy=11.7, width=32, height=24)
RNG = np.random.default_rng(1)


def scene():
    depth = RNG.uniform(0.3, 6.0, (INTR.height, INTR.width)).astype(np.float32)
    depth[0, 0], depth[3, 4], depth[5, 6], depth[7, 8] = np.nan, 0.0, -1.0, np.inf
    rgb = RNG.integers(0, 256, (INTR.height, INTR.width, 3), dtype=np.uint8)
    return depth, rgb


def xyz(cloud):
    return np.stack([cloud["x"], cloud["y"], cloud["z"]], axis=-1)


@pytest.mark.parametrize("with_rgb", [False, True], ids=["xyz", "xyzrgb"])
def test_points_equal_back_projection_with_nan_holes(with_rgb):
    depth, rgb = scene()
    cloud = cloud_buffer(depth, INTR, rgb if with_rgb else None)
    assert cloud.shape == depth.shape and cloud.dtype == (XYZRGB_DTYPE if with_rgb else XYZ_DTYPE)
    expected = backproject(depth, INTR)
    np.testing.assert_array_equal(xyz(cloud), expected)
    assert np.isnan(xyz(cloud)[[0, 3, 5, 7], [0, 4, 6, 8]]).all()


def test_rgb_is_packed_bgr0_and_decodes_back():
    depth, rgb = scene()
    cloud = cloud_buffer(depth, INTR, rgb)
    point_bytes = cloud.view(np.uint8).reshape(*depth.shape, 32)
    np.testing.assert_array_equal(point_bytes[..., 16:19], rgb[..., ::-1])  # B, G, R at offsets 16, 17, 18
    assert not point_bytes[..., 12:16].any() and not point_bytes[..., 19:].any()  # zero padding and alpha
    np.testing.assert_array_equal(unpack_rgb(cloud), rgb)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_decimation_keeps_full_resolution_pixels(d):
    depth, rgb = scene()
    cloud = cloud_buffer(depth, INTR, rgb, decimation=d)
    h, w = -(-INTR.height // d), -(-INTR.width // d)
    assert cloud.shape == (h, w)
    np.testing.assert_allclose(xyz(cloud), backproject(depth, INTR)[::d, ::d], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(unpack_rgb(cloud), rgb[::d, ::d])
    # the resampling rule (Intrinsics.scaled) would put the kept pixels (d - 1) / 2 px off
    wrong = pixel_rays(INTR.scaled(1 / d))[:h, :w]
    assert not np.allclose(
        pixel_rays(decimate_intrinsics(INTR, d))[: wrong.shape[0], : wrong.shape[1]], wrong, atol=1e-3
    )


def test_rays_are_computed_once_per_intrinsics():
    depth, _ = scene()
    cloud_buffer(depth, INTR)
    before = cloud_arrays._rays.cache_info()
    cloud_buffer(depth, INTR)
    after = cloud_arrays._rays.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda d, c: cloud_buffer(d[1:], INTR), "depth: shape \\(23, 32\\) != intrinsics"),
        (lambda d, c: cloud_buffer(d, INTR, c[..., :2]), "rgb: expected uint8 \\(24, 32, 3\\)"),
        (lambda d, c: cloud_buffer(d, INTR, decimation=0), "decimation: 0 < 1"),
    ],
)
def test_bad_inputs_are_named(call, message):
    depth, rgb = scene()
    with pytest.raises(ValueError, match=message):
        call(depth, rgb)


@pytest.mark.parametrize(
    "with_rgb, step, names", [(False, 16, ["x", "y", "z"]), (True, 32, ["x", "y", "z", "rgb"])], ids=["xyz", "xyzrgb"]
)
def test_pointcloud2_layout_and_round_trip(with_rgb, step, names):
    depth, rgb = scene()
    header = Header(frame_id="camera_color_optical_frame")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    cloud = cloud_buffer(depth, INTR, rgb if with_rgb else None)
    msg = deserialize_message(
        serialize_message(cloud_to_pointcloud2(cloud, header, PointCloud2, PointField)), PointCloud2
    )
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (24, 32, step, step * 32)
    assert (msg.is_dense, msg.is_bigendian) == (False, False)
    assert (msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec) == (header.frame_id, 12, 345)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        (n, o, PointField.FLOAT32, 1) for n, o in zip(names, [0, 4, 8, 16])
    ]
    # decode the way a subscriber does: a structured dtype from the PointFields and point_step
    dtype = np.dtype(
        {
            "names": [f.name for f in msg.fields],
            "formats": ["<f4"] * len(msg.fields),
            "offsets": [f.offset for f in msg.fields],
            "itemsize": msg.point_step,
        }
    )
    points = np.frombuffer(msg.data, dtype).reshape(msg.height, msg.width)
    np.testing.assert_array_equal(xyz(points), backproject(depth, INTR))
    if with_rgb:
        np.testing.assert_array_equal(unpack_rgb(points), rgb)


def test_cloud_message_refills_one_buffer():
    depth, rgb = scene()
    builder = CloudMessage(PointCloud2, PointField)
    first = builder.fill(depth, INTR, Header(frame_id="a"), rgb)
    payload = first.data
    second = builder.fill(depth * 2, INTR, Header(frame_id="b"), rgb[::-1].copy())
    assert second is first and second.data is payload and second.header.frame_id == "b"
    expected = cloud_to_pointcloud2(
        cloud_buffer(depth * 2, INTR, rgb[::-1].copy()), second.header, PointCloud2, PointField
    )
    assert bytes(second.data) == bytes(expected.data)  # same point bytes, padding included
    assert [(f.name, f.offset) for f in second.fields] == [(f.name, f.offset) for f in expected.fields]
    assert (second.height, second.width, second.point_step, second.row_step) == (
        expected.height,
        expected.width,
        expected.point_step,
        expected.row_step,
    )
    smaller = builder.fill(depth, INTR, Header(), decimation=2)  # new layout: new buffer
    assert (smaller.height, smaller.width, smaller.point_step, len(smaller.data)) == (12, 16, 16, 12 * 16 * 16)


def test_out_buffer_must_match():
    depth, _ = scene()
    with pytest.raises(ValueError, match="out: expected a C-contiguous \\(24, 32\\) array"):
        cloud_buffer(depth, INTR, out=np.zeros((24, 32), XYZRGB_DTYPE))


# ---- CameraInfo <-> Intrinsics ----


def test_camera_info_round_trip():
    header = Header(frame_id="cam")
    msg = deserialize_message(serialize_message(camera_info_from_intrinsics(INTR, CameraInfo, header)), CameraInfo)
    assert intrinsics_from_camera_info(msg) == INTR
    assert msg.distortion_model == "plumb_bob" and not np.any(msg.d) and len(msg.d) == 5
    np.testing.assert_array_equal(np.reshape(msg.r, (3, 3)), np.eye(3))
    np.testing.assert_array_equal(np.reshape(msg.p, (3, 4))[:, :3], INTR.matrix())
    assert msg.header.frame_id == "cam"


@pytest.mark.parametrize(
    "field, index, value, message",
    [
        ("k", 0, 0.0, "camera_info: k\\[0\\] \\(fx\\) is 0.0 \\(expected a finite value > 0; is the camera calibrated"),
        ("k", 4, np.nan, "k\\[4\\] \\(fy\\) is nan"),
        ("k", 5, np.inf, "k\\[5\\] \\(cy\\) is inf \\(expected a finite value\\)"),
        ("width", None, 0, "zero image size \\(width 0, height 24\\)"),
    ],
)
def test_bad_camera_info_is_named(field, index, value, message):
    msg = camera_info_from_intrinsics(INTR, CameraInfo, Header())
    if index is None:
        setattr(msg, field, value)
    else:
        msg.k[index] = value
    with pytest.raises(CameraInfoError, match=message):
        intrinsics_from_camera_info(msg)
