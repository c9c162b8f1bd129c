"""stdnet_node as its own process, over real Fast DDS on a private domain, with a tiny causal model on the CPU.

One node process serves every test here (each start-up costs seconds of torch import); the tests run in file
order and each one sends what it needs. Input stamps are the wall-clock time of sending (max_gap 100 s, so
pauses between tests never reset the stream), which makes the node's stamp -> publish latency meaningful.
"""

import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient

from ros_helpers import (
    LR_INFO,
    RGB_FRAME,
    H,
    S,
    Stream,
    W,
    camera_info,
    diagnostics,
    frame,
    latest_status,
    running_node,
    stamp_ns,
)
from stdnet_ros.depth.cloud_arrays import XYZ_DTYPE, XYZRGB_DTYPE, unpack_rgb
from stdnet_ros.messages.image import image_to_depth_m


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    with running_node(tmp_path_factory.mktemp("node_dds")) as started:
        yield started


def test_without_camera_info_depth_and_status_come_out_the_cloud_waits_and_one_warning(graph):
    node, peer, stream = graph
    for _ in range(3):
        out = stream.wait(stream.send(info=False))
        assert out["depth"].encoding == "32FC1" and (out["depth"].height, out["depth"].width) == (H, W)
    peer.spin_for(0.3)
    assert peer.received["info"] == [] and peer.received["points"] == []
    assert node.log().count("no camera_info yet on /rgb/camera_info or /depth/camera_info") == 1


def test_outputs_carry_the_input_stamp_rgb_frame_pixel_centre_intrinsics_and_a_matching_cloud(graph):
    node, peer, stream = graph
    rgb, depth = stream.arrays()
    stamp = stream.send(rgb, depth)
    out = stream.wait(stamp, ("depth", "info", "points", "status"))
    image, info, cloud, status = out["depth"], out["info"], out["points"], out["status"]
    for msg in out.values():
        assert stamp_ns(msg) == stamp and msg.header.frame_id == RGB_FRAME
    assert "differs from /rgb/image header.frame_id" in node.log()  # the depth frame_id warning
    assert (image.encoding, image.height, image.width, image.step) == ("32FC1", H, W, 4 * W)
    hr = image_to_depth_m(image)
    assert np.isfinite(hr).any() and (np.nan_to_num(hr, nan=1.0) > 0).all()
    fx, fy, cx, cy = info.k[0], info.k[4], info.k[2], info.k[5]
    assert (info.width, info.height) == (W, H)
    assert (fx, fy, cx, cy) == (160.0, 168.0, 4 * (7.5 + 0.5) - 0.5, 4 * (5.25 + 0.5) - 0.5)  # never s * cx
    assert (cloud.height, cloud.width, cloud.point_step, cloud.is_dense) == (H, W, 32, False)
    assert [(f.name, f.offset) for f in cloud.fields] == [("x", 0), ("y", 4), ("z", 8), ("rgb", 16)]
    points = np.frombuffer(cloud.data, XYZRGB_DTYPE).reshape(H, W)
    v, u = np.mgrid[0:H, 0:W]
    np.testing.assert_array_equal(np.isnan(points["z"]), np.isnan(hr))
    np.testing.assert_allclose(points["z"], hr, rtol=1e-6)
    np.testing.assert_allclose(points["x"], (u - cx) / fx * hr, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(points["y"], (v - cy) / fy * hr, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(unpack_rgb(points), rgb)
    assert (status.mode, status.scale, status.delay_frames, stamp_ns(status)) == ("causal", 4, 0, stamp)
    assert status.input_stamp.sec * 10**9 + status.input_stamp.nanosec == stamp
    assert 0 < status.model_ms <= status.latency_ms < 10_000
    # The HR camera_info, once received, is the output's.
    peer.publish("rgb/camera_info", camera_info(150.0, 150.0, 31.0, 23.0, W, H))
    peer.spin_for(0.3)
    info = stream.wait(stream.send(), ("info",))["info"]
    assert (info.k[0], info.k[2], info.k[5]) == (150.0, 31.0, 23.0)


def test_best_effort_and_reliable_publishers_both_reach_the_node(graph):
    _, peer, stream = graph
    for reliable in (False, True, False):
        stream.wait(stream.send(reliable=reliable))


def test_16uc1_and_32fc1_inputs_give_the_same_output(graph):
    _, peer, stream = graph
    rgb, depth = stream.arrays()
    resets = latest_status(peer).resets
    # Stamps going back (as when a bag loops) reset the stream, so both outputs start from the same empty state.
    back, outs = [stream.last - 10**11, stream.last - 2 * 10**11], []
    for stamp, encoding in zip(back, ("32FC1", "16UC1")):
        outs.append(stream.wait(stream.send(rgb, depth, stamp=stamp, encoding=encoding))["depth"])
    np.testing.assert_allclose(image_to_depth_m(outs[0]), image_to_depth_m(outs[1]), rtol=1e-5, atol=1e-6)
    assert peer.output("status", back[1]).resets == resets + 2
    stamp = stream.send()  # wall-clock stamps again: 200 s forward > max_gap, one more reset
    assert stream.wait(stamp)["status"].resets == resets + 3


def set_parameters(peer, **values) -> list:
    client = AsyncParameterClient(peer.node, "stdnet_node")
    assert client.wait_for_services(10)
    future = client.set_parameters([Parameter(k, value=v) for k, v in values.items()])
    assert peer.spin_until(future.done, 10)
    return future.result().results


def test_a_gap_longer_than_max_gap_resets_and_max_gap_changes_live(graph):
    _, peer, stream = graph
    assert all(r.successful for r in set_parameters(peer, max_gap=0.3))
    resets = stream.wait(stream.send())["status"].resets
    peer.spin_for(0.5)
    assert stream.wait(stream.send())["status"].resets == resets + 1
    assert all(r.successful for r in set_parameters(peer, max_gap=100.0))
    peer.spin_for(0.5)
    assert stream.wait(stream.send())["status"].resets == resets + 1


def bad_rgb_encoding(rgb_msg, depth_msg):
    rgb_msg.encoding = "rgb16"
    rgb_msg.step = 6 * W
    rgb_msg.data = bytes(6 * W * H)
    return rgb_msg, depth_msg


def bad_zero_size(rgb_msg, depth_msg):
    rgb_msg.height = rgb_msg.width = rgb_msg.step = 0
    rgb_msg.data = b""
    return rgb_msg, depth_msg


def bad_data_length(rgb_msg, depth_msg):
    depth_msg.data = depth_msg.data[:-8]
    return rgb_msg, depth_msg


BAD = {  # name: (corrupt (rgb_msg, depth_msg), or arrays (rgb, depth); expected log line)
    "unsupported encoding": (bad_rgb_encoding, "/rgb/image: encoding 'rgb16' unsupported (expected one of rgb8"),
    "rgb size != depth size x scale": (
        lambda r, d: (r, np.ones((H // S, W // S + 1), np.float32)),
        "/depth/image: size 17x12 (width x height) != /rgb/image size 64x48 / scale 4; expected 16x12",
    ),
    "zero-size image": (bad_zero_size, "/rgb/image: zero-size image (height 0, width 0)"),
    "data length != step x height": (bad_data_length, "/depth/image: data length 760 != step 64 × height 12"),
    "all-invalid depth": (
        lambda r, d: (r, np.zeros((H // S, W // S), np.float32)),
        "/depth/image: every pixel is invalid (0, NaN, inf or negative); expected at least one",
    ),
}


def send_bad(stream: Stream, case: str) -> int:
    corrupt, _ = BAD[case]
    rgb, depth = stream.arrays()
    stamp = stream.stamp()
    result = corrupt(*frame(stamp, rgb, depth))
    if isinstance(result[1], np.ndarray):
        result = frame(stamp, rgb, result[1])
    stream.peer.publish("depth/camera_info", camera_info(**LR_INFO))
    stream.peer.send(*result)
    return stamp


def test_each_bad_input_is_dropped_logged_and_counted_and_good_frames_still_come_out(graph):
    node, peer, stream = graph
    before = latest_status(peer).invalid_drops
    for k, case in enumerate(BAD, start=1):
        bad = send_bad(stream, case)
        peer.spin_for(0.1)
        good = stream.wait(stream.send())
        assert good["status"].invalid_drops == before + k, case
        assert peer.output("depth", bad) is None, case
        assert BAD[case][1] in node.log(), case
    # A camera_info whose size does not match its image drops the frames until a good one arrives.
    wrong = camera_info(**{**LR_INFO, "width": 20})
    for _ in range(3):  # best effort: make sure it arrived before the frame
        peer.publish("depth/camera_info", wrong)
        peer.spin_for(0.1)
    rgb, depth = stream.arrays()
    bad = stream.stamp()
    peer.send(*frame(bad, rgb, depth))
    peer.spin_for(0.3)
    good = stream.wait(stream.send())  # sends the right camera_info first
    assert good["status"].invalid_drops == before + len(BAD) + 1 and peer.output("depth", bad) is None
    assert "/depth/camera_info: size 20x12 (width x height) != /depth/image size 16x12; expected 16x12" in node.log()
    # NaN, inf and negative depth are invalid pixels, not a bad frame.
    rgb, depth = stream.arrays()
    depth[0, :3] = [np.nan, np.inf, -2.0]
    out = stream.wait(stream.send(rgb, depth))
    assert out["status"].invalid_drops == before + len(BAD) + 1
    assert np.isnan(image_to_depth_m(out["depth"])[:S, : 3 * S]).all()
    assert peer.spin_until(lambda: diagnostics(peer).get("invalid drops") == str(before + len(BAD) + 1), 3)
    diag = diagnostics(peer)
    assert diag["invalid drops /depth/image (all_invalid)"] == "1"
    assert diag["invalid drops /depth/camera_info (camera_info)"] == "1"


def test_parameter_changes_at_run_time_take_effect_and_invalid_ones_are_rejected(graph):
    _, peer, stream = graph
    results = set_parameters(peer, output_encoding="16UC1", cloud_fields="xyz", cloud_decimation=2)
    assert all(r.successful for r in results)
    out = stream.wait(stream.send(), ("depth", "points"))
    assert out["depth"].encoding == "16UC1" and out["depth"].step == 2 * W
    cloud = out["points"]
    assert (cloud.point_step, cloud.height, cloud.width) == (16, H // 2, W // 2)
    assert [f.name for f in cloud.fields] == ["x", "y", "z"]
    hr = image_to_depth_m(out["depth"])
    z = np.frombuffer(cloud.data, XYZ_DTYPE).reshape(H // 2, W // 2)["z"]
    np.testing.assert_allclose(z, hr[::2, ::2], atol=0.0006)  # the cloud keeps metres; the image has mm
    (rejected,) = set_parameters(peer, scale=8)
    assert not rejected.successful and "cannot change while the node is configured" in rejected.reason
    (rejected,) = set_parameters(peer, cloud_fields="xyzi")
    assert not rejected.successful and "'xyzi' is not one of xyz, xyzrgb" in rejected.reason
    assert all(
        r.successful for r in set_parameters(peer, output_encoding="32FC1", cloud_fields="xyzrgb", cloud_decimation=1)
    )


def test_min_and_max_depth_turn_outputs_outside_the_range_into_nan_in_image_and_cloud(graph):
    _, peer, stream = graph
    rgb, depth = stream.arrays()
    reference = image_to_depth_m(stream.wait(stream.send(rgb, depth))["depth"])
    low, high = np.nanpercentile(reference, [25, 75])
    assert all(r.successful for r in set_parameters(peer, min_depth=float(low), max_depth=float(high)))
    out = stream.wait(stream.send(rgb, depth), ("depth", "points"))
    hr = image_to_depth_m(out["depth"])
    inside = hr[np.isfinite(hr)]
    assert inside.size > 0.3 * hr.size and inside.min() >= low and inside.max() <= high
    z = np.frombuffer(out["points"].data, XYZRGB_DTYPE).reshape(H, W)["z"]
    assert np.array_equal(np.isnan(z), np.isnan(hr))
    (rejected,) = set_parameters(peer, max_depth=float(low) / 2)
    assert not rejected.successful and "must be 0 (no upper limit) or greater than min_depth" in rejected.reason
    assert all(r.successful for r in set_parameters(peer, min_depth=0.0, max_depth=0.0))
    assert np.isfinite(image_to_depth_m(stream.wait(stream.send(rgb, depth))["depth"])).mean() > 0.9


def test_sync_and_queue_drops_are_counted_and_the_newest_frame_is_kept(graph):
    _, peer, stream = graph
    first = latest_status(peer)
    for k in range(7):  # RGB without a depth partner, 50 s in the past: never paired, evicted from the queue
        peer.publish("rgb/image", frame(stream.last - 50 * 10**9 + k * 10**8, *stream.arrays())[0])
        peer.spin_for(0.05)  # paced: a back-to-back burst may lose samples in DDS (keep-last reader history)
    peer.spin_for(0.3)
    stamps = [stream.send() for _ in range(30)]  # a burst, faster than the model
    last = stream.wait(stamps[-1])["status"]
    outputs = sum(peer.output("depth", s) is not None for s in stamps)
    assert last.sync_drops - first.sync_drops >= 2
    # DDS itself may drop part of a burst (keep-last 5 reader history); of what reaches the node, the queue
    # drops the older pairs and the newest always comes out.
    assert last.queue_drops > first.queue_drops
    assert outputs + last.queue_drops - first.queue_drops <= len(stamps)
    assert peer.spin_until(lambda: int(diagnostics(peer)["queue drops"]) == last.queue_drops, 3)
    diag = diagnostics(peer)
    for key in (
        "input rate /rgb/image (Hz)",
        "input rate /depth/image (Hz)",
        "output rate (Hz)",
        "latency p50 ms",
        "latency p95 ms",
        "model p50 ms",
        "memory",
        "resets",
    ):
        assert key in diag, key
    assert (diag["mode"], diag["delay frames"], diag["device"], diag["state"]) == ("causal", "0", "cpu", "active")
    assert float(diag["latency p95 ms"]) >= float(diag["latency p50 ms"]) > 0


def test_sigint_stops_the_node_cleanly(graph):
    node, _, _ = graph
    assert node.stop() == 0
