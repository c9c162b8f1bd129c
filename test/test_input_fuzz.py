"""Property tests (hypothesis) of the input validation every path shares: image and camera-info conversion and
the pipeline's push. Whatever the fields hold, a message either converts to what it declares or raises the
layer's error naming the field; valid depth out is never inf, <= 0 or beyond MAX_DEPTH_M; padded rows (valid per
sensor_msgs) and big-endian data give the same arrays as the plain frame."""

import math
import time
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import tiny_model
from stdnet_ros.messages.camera_info import CameraInfoError, intrinsics_from_camera_info
from stdnet_ros.messages.image import MAX_DEPTH_M, ImageFormatError, image_to_depth_m, image_to_rgb
from stdnet_ros.pipeline import InputError, Pipeline, Topics
from stdnet_ros.streaming import StreamingEngine

DEPTH_ENCODINGS = ["16UC1", "32FC1", "bgr8", "mono8", "8UC1", "16SC1", "32FC3", "", "garbage\x00", "16uc1"]
RGB_ENCODINGS = ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "16UC1", "32FC1", "yuv422", "bayer_rggb8", ""]
BYTES_PER_PIXEL = {"16UC1": 2, "32FC1": 4, "rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def message(encoding, height, width, step, data, bigendian=0):
    return SimpleNamespace(
        encoding=encoding, height=height, width=width, step=step, is_bigendian=bigendian, data=bytes(data)
    )


@st.composite
def image_fields(draw, encodings):
    """Any fields: sizes 0-6, a step near the row size, data near step x height, either byte order."""
    encoding = draw(st.sampled_from(encodings))
    height, width = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    row = width * BYTES_PER_PIXEL.get(encoding, 1)
    step = max(0, row + draw(st.integers(-3, 5)))
    size = max(0, step * height + draw(st.sampled_from([0, 0, 0, -1, 1, -step, step])))
    return message(
        encoding, height, width, step, draw(st.binary(min_size=size, max_size=size)), draw(st.sampled_from([0, 1]))
    )


@SETTINGS
@given(image_fields(DEPTH_ENCODINGS))
def test_any_depth_message_converts_or_names_the_field(msg):
    try:
        depth = image_to_depth_m(msg, "/tof/depth")
    except ImageFormatError as err:
        assert str(err).startswith("/tof/depth: ")
        return
    assert msg.encoding in ("16UC1", "32FC1") and depth.shape == (msg.height, msg.width) and depth.dtype == np.float32
    valid = ~np.isnan(depth)
    assert np.all(depth[valid] > 0) and np.all(depth[valid] <= MAX_DEPTH_M)


@SETTINGS
@given(image_fields(RGB_ENCODINGS))
def test_any_rgb_message_converts_or_names_the_field(msg):
    try:
        rgb = image_to_rgb(msg, "/camera/rgb")
    except ImageFormatError as err:
        assert str(err).startswith("/camera/rgb: ")
        return
    assert msg.encoding in BYTES_PER_PIXEL and rgb.shape == (msg.height, msg.width, 3) and rgb.dtype == np.uint8


@st.composite
def valid_image(draw, encoding):
    """A valid little-endian (array, message) of ``encoding`` and a padding of its rows (bytes)."""
    height, width = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dtype = {"16UC1": "<u2", "32FC1": "<f4"}.get(encoding, "u1")
    channels = BYTES_PER_PIXEL[encoding] // np.dtype(dtype).itemsize
    if encoding == "32FC1":
        values = st.sampled_from([0.5, 1.25, 3.0, 0.0, -1.0, math.nan, math.inf, -math.inf, 1e30, MAX_DEPTH_M, 12.0])
        flat = draw(st.lists(values, min_size=height * width, max_size=height * width))
        array = np.array(flat, dtype).reshape(height, width)
    else:
        limit = 65535 if encoding == "16UC1" else 255
        flat = draw(
            st.lists(st.integers(0, limit), min_size=height * width * channels, max_size=height * width * channels)
        )
        array = np.array(flat, dtype).reshape((height, width) if channels == 1 else (height, width, channels))
    return array, draw(st.integers(1, 9))


def padded(array, encoding, padding, bigendian=False):
    """The message of ``array`` with ``padding`` junk bytes after each row."""
    data = array.astype(array.dtype.newbyteorder(">")) if bigendian and array.dtype.itemsize > 1 else array
    rows = data.reshape(array.shape[0], -1).view(np.uint8)
    junk = np.full((array.shape[0], padding), 0xAB, np.uint8)
    body = np.concatenate([rows, junk], 1)
    return message(encoding, array.shape[0], array.shape[1], body.shape[1], body.tobytes(), int(bigendian))


@SETTINGS
@given(st.sampled_from(["16UC1", "32FC1"]).flatmap(lambda e: st.tuples(st.just(e), valid_image(e))))
def test_padded_and_big_endian_depth_equal_the_plain_frame(case):
    encoding, (array, padding) = case
    plain = image_to_depth_m(padded(array, encoding, 0), "d")
    np.testing.assert_array_equal(image_to_depth_m(padded(array, encoding, padding), "d"), plain)
    np.testing.assert_array_equal(image_to_depth_m(padded(array, encoding, padding, bigendian=True), "d"), plain)
    if encoding == "32FC1":  # NaN exactly where the input is not a valid depth, the value itself elsewhere
        invalid = ~((array > 0) & (array <= MAX_DEPTH_M))
        assert np.array_equal(np.isnan(plain), invalid)
        np.testing.assert_array_equal(plain[~invalid], array[~invalid])


@SETTINGS
@given(
    st.sampled_from(["rgb8", "bgr8", "rgba8", "bgra8", "mono8"]).flatmap(
        lambda e: st.tuples(st.just(e), valid_image(e))
    )
)
def test_padded_rgb_equals_the_plain_frame(case):
    encoding, (array, padding) = case
    np.testing.assert_array_equal(
        image_to_rgb(padded(array, encoding, padding), "c"), image_to_rgb(padded(array, encoding, 0), "c")
    )


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1", "rgb8"])
def test_huge_header_with_tiny_data_allocates_nothing(encoding):
    """A header claiming 10^5 x 10^5 pixels with 16 bytes of data fails on the length check, at once."""
    msg = message(encoding, 100_000, 100_000, 100_000 * BYTES_PER_PIXEL[encoding], b"\0" * 16)
    start = time.perf_counter()
    with pytest.raises(ImageFormatError, match="data length 16 != step"):
        (image_to_rgb if encoding == "rgb8" else image_to_depth_m)(msg, "x")
    assert time.perf_counter() - start < 1.0  # a 40 GB allocation would take far longer or fail


finite_or_not = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e-300]))


@SETTINGS
@given(
    st.lists(finite_or_not, min_size=0, max_size=12),
    st.integers(-2, 700),
    st.integers(-2, 500),
)
def test_any_camera_info_gives_usable_intrinsics_or_names_the_field(k, width, height):
    msg = SimpleNamespace(k=k, width=width, height=height, d=[], distortion_model="plumb_bob")
    try:
        intr = intrinsics_from_camera_info(msg, "/camera/rgb/camera_info")
    except CameraInfoError as err:
        assert str(err).startswith("/camera/rgb/camera_info: ")
        return
    assert intr.fx > 0 and intr.fy > 0 and math.isfinite(intr.fx * intr.fy * intr.cx * intr.cy)
    assert intr.width > 0 and intr.height > 0


H, W, S = 16, 24, 4


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline(StreamingEngine(tiny_model("causal", stages=1), device="cpu"), Topics())


def stamped(msg, stamp_ns):
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.header = SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=nanosec), frame_id="cam")
    return msg


@SETTINGS
@given(rgb=image_fields(RGB_ENCODINGS), depth=image_fields(DEPTH_ENCODINGS), k=st.integers(0, 10**6))
def test_pipeline_drops_a_bad_frame_with_a_reason_and_keeps_working(pipeline, rgb, depth, k):
    """Any malformed pair raises InputError with a named reason and leaves the pipeline usable; its outputs, when
    there are, hold no inf and nothing <= 0."""
    stamp = 1_700_000_000_000_000_000 + k * 1_000_000
    try:
        outputs = pipeline.push(stamped(rgb, stamp), stamped(depth, stamp))
    except InputError as err:
        assert err.reason in {"format", "size", "camera_info", "all_invalid"} and str(err)
        outputs = []
    for out in outputs:
        valid = ~np.isnan(out.depth_m)
        assert np.all(np.isfinite(out.depth_m[valid])) and np.all(out.depth_m[valid] > 0)
    good_rgb = message("rgb8", H, W, W * 3, np.full((H, W, 3), 128, np.uint8).tobytes())
    good_depth = message("32FC1", H // S, W // S, W // S * 4, np.full((H // S, W // S), 2.0, "<f4").tobytes())
    later = stamp + 10**9
    pipeline.reset()
    (out,) = pipeline.push(stamped(good_rgb, later), stamped(good_depth, later))
    assert out.depth_m.shape == (H, W) and np.all(np.isfinite(out.depth_m))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 0.0, 1e30])
def test_invalid_32fc1_pixels_come_out_nan_and_the_rest_valid(pipeline, bad):
    """One LR pixel of each invalid kind: its HR block is NaN in the output, every other pixel a valid depth."""
    lr = np.full((H // S, W // S), 2.0, "<f4")
    lr[1, 2] = bad
    rgb = message("rgb8", H, W, W * 3, np.full((H, W, 3), 90, np.uint8).tobytes())
    depth = message("32FC1", H // S, W // S, W // S * 4, lr.tobytes())
    pipeline.reset()
    stamp = 1_800_000_000_000_000_000
    (out,) = pipeline.push(stamped(rgb, stamp), stamped(depth, stamp))
    block = np.zeros((H, W), bool)
    block[S : 2 * S, 2 * S : 3 * S] = True
    assert np.all(np.isnan(out.depth_m[block]))
    rest = out.depth_m[~block]
    assert np.all(np.isfinite(rest)) and np.all(rest > 0) and np.all(rest < 10)
