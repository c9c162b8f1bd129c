"""The ROS-free per-frame pipeline with real torch and tiny models. Messages here are plain namespaces with the
Image / CameraInfo fields (as rosbags gives them), which also shows the pipeline reads fields only."""

from types import SimpleNamespace

import numpy as np
import pytest

from conftest import TINY, tiny_model
from stdnet_ros.depth.geometry import Intrinsics
from stdnet_ros.model import WeightsError, build_model, save_weights
from stdnet_ros.pipeline import InputError, Pipeline, Topics, load_pipeline
from stdnet_ros.streaming import StreamingEngine

H, W, S = 32, 48, 4
BASE_NS = 1_700_000_000_123_456_789  # nanosecond precision a float of seconds cannot hold


def image(encoding: str, array: np.ndarray, stamp_ns: int, frame_id: str = "cam"):
    array = np.ascontiguousarray(array)
    height, width = array.shape[:2]
    return SimpleNamespace(
        header=header(stamp_ns, frame_id),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=array.strides[0] if array.size else 0,
        data=array.tobytes(),
    )


def header(stamp_ns: int, frame_id: str):
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=nanosec), frame_id=frame_id)


def info(intr: Intrinsics, d=(0.0,) * 5):
    return SimpleNamespace(
        width=intr.width,
        height=intr.height,
        distortion_model="plumb_bob",
        d=list(d),
        k=[intr.fx, 0.0, intr.cx, 0.0, intr.fy, intr.cy, 0.0, 0.0, 1.0],
    )


def frames(n: int, seed: int = 0):
    """n (rgb (H, W, 3) uint8, depth (H/S, W/S) float32 metres on a 1 mm grid, so 16UC1 holds it exactly)."""
    rng = np.random.default_rng(seed)
    return [
        (
            rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
            (rng.integers(500, 4000, (H // S, W // S)) / 1000).astype(np.float32),
        )
        for _ in range(n)
    ]


def pair(rgb, depth, k: int, encoding: str = "32FC1", dt_ns: int = 100_000_000):
    stamp = BASE_NS + k * dt_ns
    if encoding == "16UC1":
        depth_image = image("16UC1", np.where(np.isfinite(depth), np.rint(depth * 1000), 0).astype("<u2"), stamp)
    else:
        depth_image = image("32FC1", depth.astype("<f4"), stamp)
    return image("rgb8", rgb, stamp), depth_image


class Warnings(list):
    def __call__(self, message):
        self.append(message)


def make(model, warn=None, **kwargs) -> Pipeline:
    return Pipeline(StreamingEngine(model, device="cpu", **kwargs), warn=Warnings() if warn is None else warn)


@pytest.fixture(scope="module")
def causal():
    return tiny_model("causal", stages=1, scale=S)


@pytest.fixture(scope="module")
def bidirectional():
    return tiny_model("bidirectional", stages=1, scale=S)


def test_causal_outputs_equal_the_engine_with_exact_stamps_and_the_rgb_frame(causal):
    pipeline, engine = make(causal), StreamingEngine(causal, device="cpu")
    for k, (rgb, depth) in enumerate(frames(4)):
        rgb_msg, depth_msg = pair(rgb, depth, k)
        depth_msg.header.frame_id = "tof"
        (out,) = pipeline.push(rgb_msg, depth_msg)
        ((_, expected),) = engine.push(rgb, depth, (BASE_NS + k * 100_000_000) / 1e9)
        assert out.stamp_ns == out.input_stamp_ns == BASE_NS + k * 100_000_000  # exact nanoseconds
        assert out.frame_id == "cam"  # the RGB frame_id, not the depth one
        np.testing.assert_array_equal(out.depth_m, expected)
        assert out.depth_m.shape == (H, W) and out.depth_m.dtype == np.float32
        np.testing.assert_array_equal(out.rgb, rgb)
        assert out.model_ms > 0
    assert pipeline.mode == "causal" and pipeline.delay == 0


def test_depth_range_turns_outputs_outside_it_into_nan_and_checks_its_limits(causal):
    limited, free = make(causal), make(causal)
    limited.depth_range_m = (1.0, 2.5)
    for k, (rgb, depth) in enumerate(frames(2)):
        (out,) = limited.push(*pair(rgb, depth, k))
        (reference,) = free.push(*pair(rgb, depth, k))
        inside = (reference.depth_m >= 1.0) & (reference.depth_m <= 2.5)
        assert 0 < inside.sum() < inside.size
        np.testing.assert_array_equal(out.depth_m[inside], reference.depth_m[inside])
        assert np.isnan(out.depth_m[~inside]).all() and out.depth_m.dtype == np.float32
    limited.depth_range_m = (1.0, 0.0)  # no upper limit
    assert limited.depth_range_m == (1.0, 0.0)
    for bad in ((2.0, 1.0), (-1.0, 0.0), (1.0, 1.0)):
        with pytest.raises(ValueError, match="min_depth / max_depth: expected 0 <= min_depth < max_depth"):
            limited.depth_range_m = bad


def test_delayed_outputs_carry_the_stamp_rgb_and_intrinsics_of_their_own_frame(bidirectional):
    pipeline = make(bidirectional)
    delay = pipeline.delay
    assert pipeline.mode == "delayed" and delay > 0
    data, outputs, infos = frames(delay + 3), [], []
    for k, (rgb, depth) in enumerate(data):
        intr = Intrinsics(30.0 + k, 30.0, 5.5, 2.5, W // S, H // S)  # a different camera_info per frame
        infos.append(intr.scaled(S))
        pipeline.set_camera_info(info(intr), "depth")
        new = pipeline.push(*pair(rgb, depth, k))
        assert len(new) == (1 if k >= delay else 0)
        outputs += new
    outputs += pipeline.flush()
    assert len(outputs) == len(data)
    for k, out in enumerate(outputs):
        assert out.stamp_ns == BASE_NS + k * 100_000_000
        np.testing.assert_array_equal(out.rgb, data[k][0])
        assert out.intrinsics == infos[k]
    assert outputs[0].input_stamp_ns == BASE_NS + delay * 100_000_000  # finalised by the arrival of frame delay


def test_output_intrinsics_rgb_info_first_else_depth_info_scaled_with_the_pixel_centre_rule(causal):
    warn = Warnings()
    pipeline = make(causal, warn)
    ((rgb, depth),) = frames(1)
    (out,) = pipeline.push(*pair(rgb, depth, 0))
    assert out.intrinsics is None
    pipeline.push(*pair(rgb, depth, 1))
    assert len(warn) == 1 and warn[0].startswith("no camera_info yet on rgb/camera_info or depth/camera_info")
    lr = Intrinsics(30.0, 31.0, 5.5, 3.5, W // S, H // S)
    pipeline.set_camera_info(info(lr), "depth")
    (out,) = pipeline.push(*pair(rgb, depth, 2))
    assert out.intrinsics == Intrinsics(120.0, 124.0, 4 * 6.0 - 0.5, 4 * 4.0 - 0.5, W, H)  # s(cx + 0.5) - 0.5
    hr = Intrinsics(100.0, 100.0, 23.0, 15.0, W, H)
    pipeline.set_camera_info(info(hr), "rgb")
    (out,) = pipeline.push(*pair(rgb, depth, 3))
    assert out.intrinsics == hr


def test_camera_info_problems(causal):
    warn = Warnings()
    pipeline = make(causal, warn)
    ((rgb, depth),) = frames(1)
    pipeline.set_camera_info(info(Intrinsics(100.0, 100.0, 23.0, 15.0, W, H + 4)), "rgb")  # size mismatch
    with pytest.raises(InputError, match=r"rgb/camera_info: size 48x36 .* != rgb/image size 48x32; expected 48x32"):
        pipeline.push(*pair(rgb, depth, 0))
    uncalibrated = info(Intrinsics(100.0, 100.0, 23.0, 15.0, W, H))
    uncalibrated.k[0] = 0.0
    with pytest.raises(InputError, match=r"rgb/camera_info: k\[0\] \(fx\)") as err:
        pipeline.set_camera_info(uncalibrated, "rgb")
    assert (err.value.topic, err.value.reason) == ("rgb/camera_info", "camera_info")
    (out,) = pipeline.push(*pair(rgb, depth, 1))  # the bad info was cleared, not kept
    assert out.intrinsics is None
    pipeline.set_camera_info(info(Intrinsics(100.0, 100.0, 23.0, 15.0, W, H), d=(0.1, 0, 0, 0, 0)), "rgb")
    assert warn[-1].startswith("rgb/camera_info: distortion_model 'plumb_bob' with non-zero d=[0.1, 0, 0, 0, 0]")


BAD_INPUTS = {
    "unsupported rgb encoding": (
        lambda r, d: (image("rgb16", np.zeros((H, W, 3), "<u2"), 0), d),
        "rgb/image",
        "format",
        r"encoding 'rgb16' unsupported \(expected one of rgb8",
    ),
    "unsupported depth encoding": (
        lambda r, d: (r, image("mono16", np.ones((H // S, W // S), "<u2"), 0)),
        "depth/image",
        "format",
        r"encoding 'mono16' unsupported \(expected one of 16UC1",
    ),
    "depth size != rgb size / scale": (
        lambda r, d: (r, image("32FC1", np.ones((H // S, W // S + 1), "<f4"), 0)),
        "depth/image",
        "size",
        r"size 13x8 .* != rgb/image size 48x32 / scale 4; "
        r"expected 12x8",
    ),
    "rgb size not a multiple of the scale": (
        lambda r, d: (image("rgb8", np.zeros((H + 2, W, 3), "u1"), 0), d),
        "rgb/image",
        "size",
        r"not a multiple of the scale 4",
    ),
    "zero-size image": (
        lambda r, d: (image("rgb8", np.zeros((0, 0, 3), "u1"), 0), d),
        "rgb/image",
        "format",
        r"zero-size image",
    ),
    "data length != step x height": (
        lambda r, d: (r, SimpleNamespace(**{**vars(d), "data": d.data[:-4]})),
        "depth/image",
        "format",
        r"data length 380 != step 48 × height 8",
    ),
    "all-invalid depth": (
        lambda r, d: (r, image("16UC1", np.zeros((H // S, W // S), "<u2"), 0)),
        "depth/image",
        "all_invalid",
        r"every pixel is invalid .* expected at least one depth",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_a_bad_frame_raises_a_named_error_and_leaves_the_stream_untouched(causal, case):
    corrupt, topic, reason, message = BAD_INPUTS[case]
    data = frames(3)
    pipeline, reference = make(causal), make(causal)
    pipeline.push(*pair(*data[0], 0))
    reference.push(*pair(*data[0], 0))
    rgb_msg, depth_msg = corrupt(*pair(*data[1], 1))
    rgb_msg.header, depth_msg.header = header(BASE_NS + 100_000_000, "cam"), header(BASE_NS + 100_000_000, "cam")
    with pytest.raises(InputError, match=message) as err:
        pipeline.push(rgb_msg, depth_msg)
    assert (err.value.topic, err.value.reason) == (topic, reason)
    (out,) = pipeline.push(*pair(*data[2], 2))
    (expected,) = reference.push(*pair(*data[2], 2))
    np.testing.assert_array_equal(out.depth_m, expected.depth_m)  # as if the bad frame never came
    assert pipeline.resets == 0


def test_16uc1_and_32fc1_inputs_give_the_same_output_and_nan_inf_negative_are_invalid(causal):
    ((rgb, depth),) = frames(1)
    holes = depth.copy()
    holes[0, :3] = [np.nan, np.inf, -1.0]
    with_zeros = depth.copy()
    with_zeros[0, :3] = 0.0
    outs = [
        make(causal).push(*pair(rgb, d, 0, enc))[0].depth_m
        for d, enc in ((depth, "32FC1"), (depth, "16UC1"), (holes, "32FC1"), (with_zeros, "16UC1"))
    ]
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[2], outs[3], rtol=1e-5, atol=1e-6)
    assert np.isnan(outs[2][:S, : 3 * S]).all()  # HR pixels of the invalid LR pixels: NaN, never a value
    assert np.nanmin(outs[2]) > 0


def test_stamps_backwards_and_gaps_reset_the_temporal_state_with_a_warning(causal):
    warn = Warnings()
    pipeline = make(causal, warn, max_gap=0.5)
    data = frames(4)
    pipeline.push(*pair(*data[0], 10))
    pipeline.push(*pair(*data[1], 11))
    (out,) = pipeline.push(*pair(*data[2], 0))  # bag loop: 1.1 s back
    assert pipeline.resets == 1 and "not after the previous" in warn[-1] and "bag loop" in warn[-1]
    np.testing.assert_array_equal(out.depth_m, make(causal).push(*pair(*data[2], 0))[0].depth_m)  # fresh start
    pipeline.push(*pair(*data[3], 7))  # +0.7 s > max_gap
    assert pipeline.resets == 2 and "jumped 0.700 s > max_gap 0.5 s" in warn[-1]
    pipeline.max_gap = 1.0
    pipeline.push(*pair(*data[0], 14))  # +0.7 s < 1.0 s
    assert pipeline.resets == 2
    with pytest.raises(ValueError, match="max_gap"):
        pipeline.max_gap = 0.0


def test_a_header_that_cannot_label_an_output_drops_the_frame_and_changes_nothing(causal):
    pipeline = make(causal)
    data = frames(3)
    now = BASE_NS + 10**9
    (first,) = pipeline.push(*pair(*data[0], 0), now_ns=now)
    empty_id = pair(*data[1], 1)
    empty_id[0].header.frame_id = ""
    unset = pair(*data[1], 1)
    unset[0].header = unset[1].header = header(0, "cam")
    future = pair(*data[1], 1, dt_ns=400 * 10**9)  # 400 s after the clock's now - 1 s
    cases = [
        (empty_id, now, "frame_id", r"rgb/image: header.frame_id is empty; expected the RGB camera's optical frame"),
        (unset, now, "stamp", r"rgb/image: header.stamp is 0 \(unset\); expected the capture time"),
        (pair(*data[1], 0), now, "stamp", r"header.stamp 1700000000.123456789 s repeats the previous frame's"),
        (future, now, "stamp", r"is 399 s ahead of this node's clock; expected at most 300 s ahead"),
    ]
    for msgs, now_ns, reason, message in cases:
        with pytest.raises(InputError, match=message) as err:
            pipeline.push(*msgs, now_ns=now_ns)
        assert (err.value.topic, err.value.reason) == ("rgb/image", reason)
    assert pipeline.resets == 0
    (out,) = pipeline.push(*future)  # no clock (bag tools): a stamp is only checked against the stream
    assert out.stamp_ns == BASE_NS + 400 * 10**9 and first.stamp_ns == BASE_NS
    fresh = make(causal)
    fresh.push(*pair(*data[0], 0))
    np.testing.assert_array_equal(out.depth_m, fresh.push(*pair(*data[1], 1, dt_ns=400 * 10**9))[0].depth_m)


def test_a_depth_frame_id_other_than_the_rgb_one_is_warned_about(causal):
    warn = Warnings()
    pipeline = make(causal, warn)
    ((rgb, depth),) = frames(1)
    rgb_msg, depth_msg = pair(rgb, depth, 0)
    depth_msg.header.frame_id = "tof_optical"
    (out,) = pipeline.push(rgb_msg, depth_msg)
    assert out.frame_id == "cam"
    assert warn[-1:] == [
        "depth/image: header.frame_id 'tof_optical' differs from rgb/image header.frame_id 'cam'; "
        "outputs use 'cam' (the depth must be registered to the RGB camera)"
    ]


def test_load_pipeline_checks_the_weights_file_against_scale_and_mode(tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_weights(build_model("stdnet", directions="causal", stages=1, scale=4, **TINY), path)
    pipeline = load_pipeline(str(path), 4, "causal", device="cpu", topics=Topics(rgb="/cam/rgb"))
    assert (pipeline.scale, pipeline.mode, pipeline.topics.rgb) == (4, "causal", "/cam/rgb")
    with pytest.raises(
        WeightsError,
        match=r"tiny.safetensors: config mismatch: directions='causal' \(expected "
        r"'bidirectional'\)",
    ):
        load_pipeline(str(path), 4, "bidirectional", device="cpu")
    with pytest.raises(WeightsError, match=r"stdnet_ros/weights/no-such-preset-x8-causal.safetensors: does not "):
        load_pipeline("no-such-preset", 8, "causal")
    with pytest.raises(ValueError, match="precision: 'fp16' needs a CUDA device"):
        load_pipeline(str(path), 4, "causal", device="cpu", precision="fp16")
