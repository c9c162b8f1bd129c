"""Bag tools on real bag files in both storage formats: the sample bag round trip, `bag run` (output readable by
rosbags and the mcap library, stamps kept, metrics equal to `stdnet eval` on the same frames) and bad bags."""

import json
from collections import Counter

import cv2
import numpy as np
import pytest
import torch
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.interfaces import QosReliability
from sensor_msgs.msg import CameraInfo, Image

from conftest import TINY
from stdnet_ros import cli
from stdnet_ros.bags import BagError, sample
from stdnet_ros.bags.messages import header, stamp_ns
from stdnet_ros.bags.reader import BagReader
from stdnet_ros.bags.run import DEPTH_SR_INFO_TOPIC, DEPTH_SR_TOPIC, STATUS_TOPIC, run_bag
from stdnet_ros.bags.writer import BagWriter
from stdnet_ros.data import generate_sequence, split_seed, write_sequence
from stdnet_ros.data.folders import depth_to_png_mm
from stdnet_ros.depth.degradation import DEFAULT_SENSOR, SENSORS, degrade_numpy
from stdnet_ros.messages.image import depth_m_to_image, image_to_depth_m, image_to_rgb, rgb_to_image
from stdnet_ros.model import build_model, save_weights

FRAMES, WIDTH, HEIGHT, SCALE = 6, 96, 64, 4
INPUT_TOPICS = (sample.RGB_TOPIC, sample.RGB_INFO_TOPIC, sample.DEPTH_TOPIC, sample.DEPTH_INFO_TOPIC, sample.GT_TOPIC)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: steadier and faster on the two shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    root = tmp_path_factory.mktemp("bags")
    return {
        storage: (
            root / storage,
            sample.write_sample_bag(root / storage, FRAMES, WIDTH, HEIGHT, SCALE, storage=storage),
        )
        for storage in ("mcap", "sqlite3")
    }


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "tiny-causal.safetensors"
    torch.manual_seed(0)
    save_weights(build_model("stdnet", directions="causal", stages=1, scale=SCALE, **TINY), path)
    return path


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_sample_bag_round_trip(bags, storage):
    path, count = bags[storage]
    assert count == FRAMES
    frames = list(generate_sequence(split_seed("test", 0), FRAMES, WIDTH, HEIGHT))
    with BagReader(path) as bag:
        assert bag.topics == {
            sample.RGB_TOPIC: "sensor_msgs/msg/Image",
            sample.DEPTH_TOPIC: "sensor_msgs/msg/Image",
            sample.GT_TOPIC: "sensor_msgs/msg/Image",
            sample.RGB_INFO_TOPIC: "sensor_msgs/msg/CameraInfo",
            sample.DEPTH_INFO_TOPIC: "sensor_msgs/msg/CameraInfo",
        }
        assert all(bag.count(t) == FRAMES for t in INPUT_TOPICS)
        assert bag.offered_qos(sample.RGB_TOPIC)[0].reliability == QosReliability.RELIABLE
        by_topic = {t: [] for t in INPUT_TOPICS}
        for topic, time_ns, msg in bag.messages():
            assert stamp_ns(msg.header.stamp) == time_ns
            assert msg.header.frame_id == sample.FRAME_ID
            by_topic[topic].append(msg)
    stamps = [stamp_ns(m.header.stamp) for m in by_topic[sample.RGB_TOPIC]]
    np.testing.assert_array_equal(np.diff(stamps), np.diff([i * 10**9 // 30 for i in range(FRAMES)]))
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(image_to_rgb(by_topic[sample.RGB_TOPIC][i]), frame.rgb)
        gt = image_to_depth_m(by_topic[sample.GT_TOPIC][i])
        np.testing.assert_allclose(np.nan_to_num(gt), frame.depth_m, atol=5e-4)
        lr = image_to_depth_m(by_topic[sample.DEPTH_TOPIC][i])
        assert lr.shape == (HEIGHT // SCALE, WIDTH // SCALE) and by_topic[sample.DEPTH_TOPIC][i].encoding == "16UC1"
        expected = degrade_numpy(frame.depth_m, frame.rgb, SCALE, SENSORS[DEFAULT_SENSOR], sample.lr_seed(0, i))
        np.testing.assert_allclose(np.nan_to_num(lr), expected, atol=5e-4)
    rgb_info, depth_info = by_topic[sample.RGB_INFO_TOPIC][0], by_topic[sample.DEPTH_INFO_TOPIC][0]
    intr = frames[0].intrinsics
    assert (rgb_info.width, rgb_info.height, rgb_info.k[0], rgb_info.k[2]) == (WIDTH, HEIGHT, intr.fx, intr.cx)
    lr_intr = intr.scaled(1 / SCALE)
    assert (depth_info.width, depth_info.height, depth_info.k[2]) == (WIDTH // SCALE, HEIGHT // SCALE, lr_intr.cx)


def _mcap_messages(path):
    """{topic: [(log_time, decoded message)]} of the bag's .mcap file, decoded by the mcap library."""
    out = {}
    with open(next(path.glob("*.mcap")), "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == "ros2"
        for schema, channel, message, decoded in reader.iter_decoded_messages():
            assert channel.message_encoding == "cdr" and schema.encoding == "ros2msg"
            out.setdefault(channel.topic, []).append((message.log_time, decoded))
    return out


def test_bag_run_output_readable_with_input_stamps(bags, weights, tmp_path):
    path, _ = bags["sqlite3"]  # sqlite3 in, mcap out
    out = tmp_path / "out"
    summary = run_bag(path, out, str(weights), points=True, eval_out=tmp_path / "eval")
    assert (summary["frames"], summary["written"]) == (FRAMES, FRAMES)
    assert (summary["invalid_drops"], summary["sync_drops"]) == (0, 0)
    with BagReader(path) as bag:
        input_stamps = [stamp_ns(m.header.stamp) for _, _, m in bag.messages([sample.RGB_TOPIC])]
    decoded = _mcap_messages(out)
    assert set(decoded) == {DEPTH_SR_TOPIC, DEPTH_SR_INFO_TOPIC, "/depth_sr/points", STATUS_TOPIC}
    for topic, messages in decoded.items():
        assert [t for t, _ in messages] == input_stamps, topic
        assert [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for _, m in messages] == input_stamps, topic
    status = decoded[STATUS_TOPIC][-1][1]
    assert (status.mode, status.scale, status.delay_frames, status.queue_drops) == ("causal", SCALE, 0, 0)
    cloud = decoded["/depth_sr/points"][0][1]
    assert (cloud.width, cloud.height, cloud.point_step) == (WIDTH, HEIGHT, 32)
    with BagReader(out) as bag:  # and by rosbags, into rclpy messages
        depth = [m for _, _, m in bag.messages([DEPTH_SR_TOPIC])]
        info = next(m for _, _, m in bag.messages([DEPTH_SR_INFO_TOPIC]))
    assert [stamp_ns(m.header.stamp) for m in depth] == input_stamps
    assert depth[0].encoding == "32FC1" and image_to_depth_m(depth[0]).shape == (HEIGHT, WIDTH)
    assert (info.width, info.height) == (WIDTH, HEIGHT)


def test_bag_run_metrics_equal_stdnet_eval(bags, weights, tmp_path):
    """`bag run` scores the node's pipeline outputs with the evaluation code; `stdnet eval` on a dataset folder of
    the same generated frames and the bag's LR (16-bit mm PNGs, as the bag's 16UC1) gives the same metrics."""
    run_bag(bags["mcap"][0], tmp_path / "out", str(weights), eval_out=tmp_path / "bag_eval")
    folder = tmp_path / "data" / "seq"
    write_sequence(folder, generate_sequence(split_seed("test", 0), FRAMES, WIDTH, HEIGHT), scales=())
    (folder / f"lr_x{SCALE}").mkdir()
    with BagReader(bags["mcap"][0]) as bag:
        for i, (_, _, msg) in enumerate(bag.messages([sample.DEPTH_TOPIC])):
            cv2.imwrite(str(folder / f"lr_x{SCALE}" / f"{i:06d}.png"), depth_to_png_mm(image_to_depth_m(msg)))
    assert (
        cli.main(
            [
                "eval",
                "--data",
                str(tmp_path / "data"),
                "--scale",
                str(SCALE),
                "--out",
                str(tmp_path / "eval"),
                "--methods",
                "stdnet-causal,bicubic,guided-filter",
                "--weights",
                str(weights),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    from_bag = json.loads((tmp_path / "bag_eval" / "metrics.json").read_text())["methods"]
    from_eval = json.loads((tmp_path / "eval" / "metrics.json").read_text())["methods"]
    assert set(from_bag) == set(from_eval) == {"stdnet-causal", "bicubic", "guided-filter"}
    for method in from_bag:
        bag_mean, eval_mean = from_bag[method]["mean"], from_eval[method]["mean"]
        assert bag_mean["frames"] == eval_mean["frames"] == FRAMES
        for key in ("rmse_cm", "mae_cm", "edge_rmse_cm", "coverage"):
            assert bag_mean[key] is not None, (method, key)
            # PNG and 16UC1 hold the same millimetres; metres differ by float32 rounding (x / 1000 vs x * 0.001)
            assert bag_mean[key] == pytest.approx(eval_mean[key], rel=1e-5), (method, key)
    assert sorted(p.suffix for p in (tmp_path / "bag_eval" / "figures").iterdir()) == [".png", ".png"]
    assert (tmp_path / "bag_eval" / "metrics.md").read_text().count("stdnet-causal") == 2


def _bad_bag(path, rgb_encoding="rgb8", depth_offset_ns=0, depth_type="sensor_msgs/msg/Image", depth_m=1.0):
    """A 3-frame bag with /cam/rgb/image and /cam/depth/image (16UC1, every pixel ``depth_m``) written by hand."""
    with BagWriter(path, "sqlite3") as bag:
        bag.add_topic("/cam/rgb/image", "sensor_msgs/msg/Image")
        bag.add_topic("/cam/depth/image", depth_type)
        for i in range(3):
            t = 10**18 + i * 10**9 // 30
            rgb = rgb_to_image(np.zeros((16, 16, 3), np.uint8), Image, header(t, "cam"))
            rgb.encoding = rgb_encoding
            bag.write("/cam/rgb/image", rgb, t)
            depth_hdr = header(t + depth_offset_ns, "cam")
            depth = (
                depth_m_to_image(np.full((4, 4), depth_m, np.float32), Image, depth_hdr, "16UC1")
                if depth_type.endswith("Image")
                else CameraInfo(header=depth_hdr)
            )
            bag.write("/cam/depth/image", depth, t + depth_offset_ns)
    return path


def _fuzz_pair(i: int, t: int, case: str):
    """Frame ``i`` of the fuzz bag: (rgb, depth) 16x16 / 4x4 messages stamped ``t``, spoiled as ``case`` says."""
    rng = np.random.default_rng(i)
    frame_id = "" if case == "empty frame_id" else "cam"
    rgb = rgb_to_image(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), Image, header(t, frame_id))
    lr = rng.uniform(0.5, 4.0, (4, 4)).astype(np.float32)
    if case == "all-NaN depth":
        lr[:] = np.nan
    if case == "depth one column too many":
        lr = np.ones((4, 5), np.float32)
    depth = depth_m_to_image(lr, Image, header(t, "cam"), "32FC1")
    if case == "rgb yuv422":
        rgb.encoding = "yuv422"
    elif case == "depth bgr8":
        depth.encoding = "bgr8"
    elif case == "depth data short":
        depth.data = bytes(depth.data)[:-4]
    elif case == "rgb rows padded":
        rgb.data = np.pad(np.frombuffer(bytes(rgb.data), np.uint8).reshape(16, 48), ((0, 0), (0, 4))).tobytes()
        rgb.step = 52
    elif case == "big-endian depth":
        depth.data = lr.astype(">f4").tobytes()
        depth.is_bigendian = 1
    return rgb, depth


# (case, whether its frame comes out; else the (topic, reason) it is counted under)
FUZZ = [
    ("rgb yuv422", ("/cam/rgb/image", "format")),  # the first frame: topic detection must look past it
    ("good", None),
    ("depth bgr8", ("/cam/depth/image", "format")),
    ("rgb rows padded", None),
    ("depth data short", ("/cam/depth/image", "format")),
    ("big-endian depth", None),
    ("all-NaN depth", ("/cam/depth/image", "all_invalid")),
    ("depth one column too many", ("/cam/depth/image", "size")),
    ("empty frame_id", ("/cam/rgb/image", "frame_id")),
    ("stamp 0", ("/cam/rgb/image", "stamp")),
    ("stamp of frame 5 again", ("/cam/rgb/image", "stamp")),
    ("stamp 1 s back", None),
    ("camera_info K zero", ("/cam/depth/camera_info", "camera_info")),  # the info is dropped, the frame is kept
    ("good", None),
]


def test_bag_run_reads_compressed_and_compressed_depth_topics(bags, weights, tmp_path, capsys):
    """The sample bag as image_transport's plugins record it: JPEG RGB and 16UC1 compressedDepth are detected,
    paired with their camera_infos and decoded (the depth losslessly: depth-only bicubic scores as on the raw
    bag); one corrupt JPEG and one corrupt compressedDepth payload are dropped and counted as format errors."""
    compressed = tmp_path / "compressed"
    sample.write_sample_bag(compressed, FRAMES, WIDTH, HEIGHT, SCALE, compressed=True)
    rgb_topic, depth_topic = sample.RGB_TOPIC + "/compressed", sample.DEPTH_TOPIC + "/compressedDepth"
    corrupt = tmp_path / "corrupt"
    with BagReader(compressed) as src, BagWriter(corrupt, "mcap") as dst:
        for topic, msgtype in src.topics.items():
            dst.add_topic(topic, msgtype)
        seen = Counter()
        for topic, t, msg in src.messages():
            seen[topic] += 1
            if (topic, seen[topic]) in ((rgb_topic, 2), (depth_topic, 4)):
                msg.data = bytes(msg.data[:12]) + b"corrupt"
            dst.write(topic, msg, t)
    methods = ("bicubic", "guided-filter")
    scores = {}
    for name, path in (("raw", bags["mcap"][0]), ("compressed", compressed), ("corrupt", corrupt)):
        summary = run_bag(path, tmp_path / f"{name}-out", str(weights), eval_out=tmp_path / f"{name}-eval")
        scores[name] = json.loads((tmp_path / f"{name}-eval" / "metrics.json").read_text())["methods"]
        assert summary["written"] == (FRAMES - 2 if name == "corrupt" else FRAMES), name
    assert summary["invalid"] == {f"{rgb_topic} (format)": 1, f"{depth_topic} (format)": 1}
    warnings = capsys.readouterr().err
    assert f"dropped: {rgb_topic}: data (" in warnings and "is not a decodable jpeg image" in warnings
    assert f"dropped: {depth_topic}: the payload after the header is not a 16-bit one-channel PNG" in warnings
    raw, comp = (scores[k] for k in ("raw", "compressed"))
    assert comp["bicubic"]["mean"]["rmse_cm"] == pytest.approx(raw["bicubic"]["mean"]["rmse_cm"], rel=1e-6)
    assert comp["guided-filter"]["mean"]["rmse_cm"] == pytest.approx(raw["guided-filter"]["mean"]["rmse_cm"], rel=0.05)
    for method in methods:
        assert scores["corrupt"][method]["mean"]["frames"] == FRAMES - 2
    with BagReader(tmp_path / "compressed-out") as bag:
        info = next(m for _, _, m in bag.messages([DEPTH_SR_INFO_TOPIC]))
    assert (info.width, info.height) == (WIDTH, HEIGHT)  # the RGB camera_info next to /camera/rgb/image/compressed


def test_bag_run_drops_and_counts_each_bad_frame_of_a_fuzz_bag_and_keeps_the_rest(weights, tmp_path, capsys):
    path, stamps = tmp_path / "fuzz", []
    with BagWriter(path, "mcap") as bag:
        for topic, msgtype in (
            ("/cam/rgb/image", "Image"),
            ("/cam/depth/image", "Image"),
            ("/cam/depth/camera_info", "CameraInfo"),
        ):
            bag.add_topic(topic, f"sensor_msgs/msg/{msgtype}")
        for i, (case, _) in enumerate(FUZZ):
            log_time = 10**18 + (i + 20) * 10**9 // 30
            t = {"stamp 0": 0, "stamp of frame 5 again": stamps[5] if len(stamps) > 5 else 0}.get(case, log_time)
            t = log_time - 10**9 if case == "stamp 1 s back" else t
            stamps.append(t)
            k = [0.0] * 9 if case == "camera_info K zero" else [4.0, 0, 1.5, 0, 4.0, 1.5, 0, 0, 1]
            bag.write("/cam/depth/camera_info", CameraInfo(header=header(t, "cam"), width=4, height=4, k=k), log_time)
            rgb, depth = _fuzz_pair(i, t, case)
            bag.write("/cam/rgb/image", rgb, log_time)
            bag.write("/cam/depth/image", depth, log_time)
    out = tmp_path / "out"
    assert cli.main(["bag", "run", str(path), "--out", str(out), "--weights", str(weights)]) == 0
    printed = capsys.readouterr()
    expected = Counter(drop for _, drop in FUZZ if drop)
    summary = "dropped: " + ", ".join(f"{t} ({r}): {n}" for (t, r), n in sorted(expected.items()))
    assert (
        summary in printed.out
        and f"-> {sum(d is None or 'camera_info' in d[0] for _, d in FUZZ)} outputs" in printed.out
    )
    assert "warning: dropped: /cam/rgb/image: header.stamp is 0 (unset)" in printed.err
    with BagReader(out) as bag:
        written = [stamp_ns(m.header.stamp) for _, _, m in bag.messages([DEPTH_SR_TOPIC])]
        info_stamps = [stamp_ns(m.header.stamp) for _, _, m in bag.messages([DEPTH_SR_INFO_TOPIC])]
        last = [m for _, _, m in bag.messages([STATUS_TOPIC])][-1]
        for _, _, m in bag.messages([DEPTH_SR_TOPIC]):
            depth = image_to_depth_m(m)
            assert not np.isinf(depth).any() and (depth[np.isfinite(depth)] > 0).all()
    kept = [t for t, (case, drop) in zip(stamps, FUZZ) if drop is None or drop[1] == "camera_info"]
    assert sorted(written) == sorted(kept)  # each valid frame once, frame 5's stamp too (read back in log-time order)
    assert stamps[-2] not in info_stamps and stamps[-1] in info_stamps  # no intrinsics after the bad info
    # resets: the stamp 1 s back, then the jump of 1.03 s > max_gap forward again
    assert (last.invalid_drops, last.resets) == (sum(expected.values()), 2)


def test_bag_run_fails_only_when_every_frame_is_dropped(weights, tmp_path, capsys):
    path = _bad_bag(tmp_path / "bad", depth_m=0.0)
    assert cli.main(["bag", "run", str(path), "--out", str(tmp_path / "out"), "--weights", str(weights)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"stdnet bag run: error: {path}: every synchronised frame was dropped, nothing to write "
        "(/cam/depth/image (all_invalid) 3)"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "case, expected",
    [
        ("garbage", "not a readable rosbag2 bag"),
        ("missing_topic", "no topic /cam/nope (the RGB image)"),
        ("encoding", "has encoding 'yuv422'"),
        ("type", "is sensor_msgs/msg/CameraInfo, expected sensor_msgs/msg/Image"),
        ("no_overlap", "no RGB and depth message pair"),
    ],
)
def test_bad_bags_name_the_bag_and_the_problem(case, expected, weights, tmp_path, capsys):
    path, options = tmp_path / "bad", []
    if case == "garbage":
        path = tmp_path / "bad.mcap"
        path.write_bytes(b"not an mcap file")
    elif case == "missing_topic":
        _bad_bag(path)
        options = ["--rgb-topic", "/cam/nope"]
    elif case == "encoding":
        _bad_bag(path, rgb_encoding="yuv422")
        options = ["--rgb-topic", "/cam/rgb/image"]
    elif case == "type":
        _bad_bag(path, depth_type="sensor_msgs/msg/CameraInfo")
        options = ["--depth-topic", "/cam/depth/image"]
    else:
        _bad_bag(path, depth_offset_ns=10**10)
    out = tmp_path / "out"
    status = cli.main(["bag", "run", str(path), "--out", str(out), "--weights", str(weights), *options])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert err.startswith(f"stdnet bag run: error: {path}: ") and expected in err and "\n" not in err
    assert not out.exists()


def test_writer_refuses_an_existing_path(tmp_path):
    (tmp_path / "bag").mkdir()
    with pytest.raises(BagError, match="already exists"):
        BagWriter(tmp_path / "bag")
