"""CompressedImage layouts of image_transport's compressed and compressedDepth plugins, decoded with OpenCV.

The messages are built by hand from the plugins' layout (format string, 12-byte header, PNG / JPEG payload), not
only by our own encoders, so a mistake shared by our encoder and decoder would still fail here."""

import struct

import cv2
import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from stdnet_ros.messages.compressed import (
    compressed_depth_to_m,
    compressed_to_rgb,
    depth_m_to_compressed_depth,
    rgb_to_compressed,
)
from stdnet_ros.messages.decode import decode_depth_m, decode_rgb
from stdnet_ros.messages.image import ImageFormatError, rgb_to_image


def message(fmt: str, payload: bytes) -> CompressedImage:
    msg = CompressedImage(header=Header(frame_id="cam"), format=fmt)
    msg.data = payload
    return msg


def plugin_depth(fmt: str, png_pixels: np.ndarray, quant_a: float = 0.0, quant_b: float = 0.0) -> CompressedImage:
    """A compressedDepth message laid out as the plugin writes it: header (int32 0, A, B), then the PNG."""
    ok, png = cv2.imencode(".png", png_pixels)
    assert ok
    return message(fmt, struct.pack("<iff", 0, quant_a, quant_b) + png.tobytes())


@pytest.fixture
def rgb():
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 256, (48, 64, 3)).astype(np.uint8), (0, 0), 2.0)


@pytest.mark.parametrize("fmt", ["png", "rgb8; png compressed bgr8", "bgr8; png compressed bgr8"])
def test_png_rgb_decodes_exactly(rgb, fmt):
    ok, png = cv2.imencode(".png", rgb[:, :, ::-1])  # OpenCV writes BGR, as the plugin does
    out = compressed_to_rgb(message(fmt, png.tobytes()))
    assert out.dtype == np.uint8 and np.array_equal(out, rgb)


@pytest.mark.parametrize("fmt", ["jpeg", "rgb8; jpeg compressed bgr8"])
def test_jpeg_rgb_decodes_within_jpeg_error(rgb, fmt):
    ok, jpg = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    out = compressed_to_rgb(message(fmt, jpg.tobytes()))
    assert out.shape == rgb.shape and np.abs(out.astype(int) - rgb).mean() < 3


def test_grey_png_is_replicated(rgb):
    grey = rgb[:, :, 0]
    ok, png = cv2.imencode(".png", grey)
    out = compressed_to_rgb(message("mono8; png compressed mono8", png.tobytes()))
    assert np.array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))


def test_16uc1_compressed_depth_is_millimetres_with_zero_invalid():
    mm = np.array([[0, 1, 1500], [65535, 250, 0]], np.uint16)
    out = compressed_depth_to_m(plugin_depth("16UC1; compressedDepth png", mm))
    expected = np.array([[np.nan, 0.001, 1.5], [65.535, 0.25, np.nan]], np.float32)
    assert out.dtype == np.float32 and np.allclose(out, expected, equal_nan=True)


@pytest.mark.parametrize("fmt", ["32FC1; compressedDepth png", "32FC1; compressedDepth"])
def test_32fc1_compressed_depth_inverts_the_quantisation(fmt):
    a = 100.0 * 101.0  # the plugin's defaults: depth_quantization 100, depth_max 10 m
    b = 1.0 - a / 10.0
    depth = np.array([[0.5, 2.0, 9.5], [1.25, 4.0, 7.0]])
    q = (a / depth + b).astype(np.uint16)  # the plugin's float -> uint16 conversion truncates
    q[1, 2] = 0  # invalid
    out = compressed_depth_to_m(plugin_depth(fmt, q, a, b))
    assert np.isnan(out[1, 2]) and np.allclose(np.delete(out.ravel(), 5), np.delete(depth.ravel(), 5), rtol=2e-3)


@pytest.mark.parametrize("encoding, tolerance_m", [("16UC1", 0.0005), ("32FC1", 0.01)])
def test_our_compressed_depth_round_trips_through_rclpy(encoding, tolerance_m):
    depth = np.random.default_rng(1).uniform(0.3, 9.0, (30, 40)).astype(np.float32)
    depth[3, 4], depth[5, 6], depth[7, 8] = np.nan, 0.0, 12.0  # invalid, invalid, beyond the plugin's 10 m
    msg = depth_m_to_compressed_depth(depth, CompressedImage, Header(frame_id="cam"), encoding)
    assert msg.format == f"{encoding}; compressedDepth png"
    out = decode_depth_m(deserialize_message(serialize_message(msg), CompressedImage), "d")
    invalid = np.zeros_like(depth, bool)
    invalid[3, 4] = invalid[5, 6] = invalid[7, 8] = True
    assert np.array_equal(np.isnan(out), invalid)
    assert np.nanmax(np.abs(out - depth)[~invalid]) <= tolerance_m


def test_our_compressed_rgb_round_trips_and_raw_images_still_decode(rgb):
    png = rgb_to_compressed(rgb, CompressedImage, Header(), codec="png")
    assert png.format == "rgb8; png compressed bgr8" and np.array_equal(decode_rgb(png, "c"), rgb)
    jpg = rgb_to_compressed(rgb, CompressedImage, Header())
    assert jpg.format == "rgb8; jpeg compressed bgr8" and np.abs(decode_rgb(jpg, "c").astype(int) - rgb).mean() < 3
    assert np.array_equal(decode_rgb(rgb_to_image(rgb, Image, Header()), "c"), rgb)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: message("jpeg", b"\xff\xd8 not a jpeg"), "is not a decodable jpeg image"),
        (lambda: message("tiff", b"x"), "format 'tiff' unsupported"),
        (lambda: message("16UC1; compressedDepth png", b"short"), "expected a 12-byte header and a PNG"),
        (lambda: message("16UC1; compressedDepth png", struct.pack("<iff", 0, 0, 0) + b"garbage"), "16-bit"),
        (
            lambda: plugin_depth("16UC1; compressedDepth png", np.zeros((4, 4), np.uint8)),
            r"not a 16-bit one-channel PNG \(uint8",
        ),
        (lambda: message("16UC1; compressedDepth rvl", b"x" * 20), "rvl compression is not supported"),
        (lambda: message("8UC1; compressedDepth png", b"x" * 20), "format '8UC1; compressedDepth png' unsupported"),
        (
            lambda: plugin_depth("32FC1; compressedDepth png", np.ones((2, 2), np.uint16), float("nan"), 0.0),
            "expected finite",
        ),
    ],
)
def test_corrupt_payloads_name_the_problem(build, match):
    msg = build()
    decode = decode_depth_m if "compressedDepth" in msg.format else decode_rgb
    with pytest.raises(ImageFormatError, match=match):
        decode(msg, "t")
