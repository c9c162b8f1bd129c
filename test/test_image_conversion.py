"""Image <-> numpy conversion on real rclpy sensor_msgs/Image messages (and rosbags / cv_bridge where installed)."""

from types import SimpleNamespace

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from stdnet_ros.messages.image import ImageFormatError, depth_m_to_image, image_to_depth_m, image_to_rgb, rgb_to_image

H, W = 4, 5
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)


def image(encoding: str, pixels: np.ndarray, pad: int = 0, bigendian: bool = False) -> Image:
    """A real rclpy Image of ``pixels`` (H, W[, C]) with ``pad`` bytes of junk after every row."""
    pixels = pixels.astype(pixels.dtype.newbyteorder(">" if bigendian else "<"))
    rows = pixels.reshape(pixels.shape[0], -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((rows.shape[0], pad), 0xAB, np.uint8)], axis=1)
    return Image(
        height=pixels.shape[0],
        width=pixels.shape[1],
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=padded.shape[1],
        data=padded.tobytes(),
    )


@pytest.mark.parametrize(
    "encoding, pixels",
    [
        ("rgb8", RGB),
        ("bgr8", RGB[..., ::-1]),
        ("rgba8", np.dstack([RGB, np.full((H, W), 7, np.uint8)])),
        ("bgra8", np.dstack([RGB[..., ::-1], np.full((H, W), 7, np.uint8)])),
    ],
)
@pytest.mark.parametrize("pad", [0, 3])
def test_colour_encodings_decode_to_rgb(encoding, pixels, pad):
    out = image_to_rgb(image(encoding, pixels, pad))
    assert out.shape == (H, W, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, RGB)


def test_mono8_replicates_to_rgb():
    grey = RGB[..., 0]
    np.testing.assert_array_equal(image_to_rgb(image("mono8", grey, pad=2)), np.dstack([grey] * 3))


@pytest.mark.parametrize(
    "container", [bytes, list, lambda b: np.frombuffer(b, np.uint8)], ids=["bytes", "list", "ndarray"]
)
def test_any_data_container(container):
    """Duck-typed messages (rosbags holds numpy arrays) work like rclpy's (which holds array.array)."""
    msg = image("rgb8", RGB, pad=1)
    duck = SimpleNamespace(
        **{f: getattr(msg, f) for f in ("encoding", "height", "width", "step", "is_bigendian")},
        data=container(bytes(msg.data)),
    )
    np.testing.assert_array_equal(image_to_rgb(duck), RGB)


def test_rgb8_without_padding_is_zero_copy():
    msg = image("rgb8", RGB)
    out = image_to_rgb(msg)
    assert np.shares_memory(out, np.frombuffer(msg.data, np.uint8))


@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("pad", [0, 2])
def test_16uc1_millimetres_to_metres(bigendian, pad):
    mm = np.array([[0, 1, 1234, 65535, 500]] * H, dtype=np.uint16)
    depth = image_to_depth_m(image("16UC1", mm, pad, bigendian))
    assert depth.dtype == np.float32 and depth.shape == (H, W)
    expected = np.where(mm == 0, np.nan, mm.astype(np.float32) * np.float32(0.001))
    np.testing.assert_array_equal(depth, expected)


@pytest.mark.parametrize("bigendian", [False, True])
def test_32fc1_invalid_values_become_nan(bigendian):
    metres = np.array([[1.5, 0.0, -2.0, np.inf, np.nan]] * H, dtype=np.float32)
    depth = image_to_depth_m(image("32FC1", metres, pad=4, bigendian=bigendian))
    np.testing.assert_array_equal(depth, np.array([[1.5] + [np.nan] * 4] * H, dtype=np.float32))
    assert depth.flags.writeable


def test_32fc1_round_trip_through_rclpy_serialization():
    depth = RNG.uniform(0.2, 8.0, (H, W)).astype(np.float32)
    depth[1, 2] = np.nan
    header = Header(frame_id="cam_optical")
    msg = deserialize_message(serialize_message(depth_m_to_image(depth, Image, header)), Image)
    assert (msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian) == ("32FC1", H, W, W * 4, 0)
    assert msg.header.frame_id == "cam_optical"
    np.testing.assert_array_equal(image_to_depth_m(msg), depth)


def test_16uc1_encoding_rounds_and_marks_invalid_as_zero():
    depth = np.array([[1.2344, 1.2346, 0.0, np.nan, -1.0, 65.535, 65.5356, 100.0, 0.0004, 0.0006]])
    msg = depth_m_to_image(depth, Image, Header(), encoding="16UC1")
    mm = np.frombuffer(msg.data, "<u2")
    np.testing.assert_array_equal(mm, [1234, 1235, 0, 0, 0, 65535, 0, 0, 0, 1])
    assert (msg.encoding, msg.step) == ("16UC1", 20)


def test_rgb_round_trip():
    msg = rgb_to_image(RGB, Image, Header())
    assert (msg.encoding, msg.step) == ("rgb8", W * 3)
    np.testing.assert_array_equal(image_to_rgb(deserialize_message(serialize_message(msg), Image)), RGB)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            dict(encoding="yuv422"),
            "rgb/image: encoding 'yuv422' unsupported (expected one of rgb8, bgr8, rgba8, bgra8, mono8)",
        ),
        (dict(step=W * 3 + 1), f"rgb/image: data length {H * W * 3} != step {W * 3 + 1} × height {H}"),
        (dict(step=W * 3 - 1), "rgb/image: step 14 < width 5 × 3 bytes per pixel"),
        (dict(height=0), "rgb/image: zero-size image (height 0, width 5)"),
    ],
)
def test_bad_rgb_messages_name_field_and_expectation(mutate, message):
    msg = image("rgb8", RGB)
    for field, value in mutate.items():
        setattr(msg, field, value)
    with pytest.raises(ImageFormatError) as err:
        image_to_rgb(msg)
    assert str(err.value) == message


def test_depth_rejects_colour_and_bad_arrays():
    with pytest.raises(ImageFormatError, match="depth/image: encoding 'rgb8' unsupported .*16UC1, 32FC1"):
        image_to_depth_m(image("rgb8", RGB))
    with pytest.raises(ImageFormatError, match="expected a non-empty \\(H, W\\) float"):
        depth_m_to_image(np.zeros((2, 2), np.uint16), Image, Header())
    with pytest.raises(ImageFormatError, match="encoding 'mono16' unsupported"):
        depth_m_to_image(np.zeros((2, 2)), Image, Header(), encoding="mono16")
    with pytest.raises(ImageFormatError, match="\\(H, W, 3\\) uint8"):
        rgb_to_image(RGB.astype(np.float32), Image, Header())


def test_rosbags_messages_decode_and_encode():
    typesys = pytest.importorskip("rosbags.typesys", reason="rosbags not installed")
    store = typesys.get_typestore(typesys.Stores.ROS2_KILTED)
    rb_image = store.types["sensor_msgs/msg/Image"]
    header = store.types["std_msgs/msg/Header"](
        stamp=store.types["builtin_interfaces/msg/Time"](sec=1, nanosec=2), frame_id="cam"
    )
    depth = RNG.uniform(0.2, 8.0, (H, W)).astype(np.float32)
    msg = depth_m_to_image(depth, rb_image, header)
    raw = store.serialize_cdr(msg, rb_image.__msgtype__)
    np.testing.assert_array_equal(image_to_depth_m(store.deserialize_cdr(raw, rb_image.__msgtype__)), depth)
    np.testing.assert_array_equal(image_to_depth_m(deserialize_message(bytes(raw), Image)), depth)


@pytest.mark.parametrize(
    "encoding, pixels", [("rgb8", RGB), ("bgr8", RGB[..., ::-1]), ("16UC1", None), ("32FC1", None)]
)
def test_agrees_with_cv_bridge(encoding, pixels):
    cv_bridge = pytest.importorskip("cv_bridge", reason="cv_bridge not installed")
    bridge = cv_bridge.CvBridge()
    if encoding in ("16UC1", "32FC1"):
        pixels = RNG.integers(0, 5000, (H, W)).astype(np.uint16 if encoding == "16UC1" else np.float32)
        msg = image(encoding, pixels, pad=4)
        ref = bridge.imgmsg_to_cv2(msg, "passthrough").astype(np.float32)
        ref = ref * np.float32(0.001) if encoding == "16UC1" else ref
        ref[~(ref > 0)] = np.nan
        np.testing.assert_array_equal(image_to_depth_m(msg), ref)
    else:
        msg = image(encoding, pixels, pad=4)
        np.testing.assert_array_equal(image_to_rgb(msg), bridge.imgmsg_to_cv2(msg, "rgb8"))
