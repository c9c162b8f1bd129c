"""A bounded fuzz campaign of malformed inputs against a stdnet_node process over real DDS (issue 21).

Every case is sent, then a good frame; per case the node stays up and either drops the frame, counting it under a
named (topic, reason) in /diagnostics and logging it, or accepts it where the message is valid. No output ever
carries a dropped frame's stamp, no output depth is inf or <= 0, the node's memory after the campaign is within
30 % of before, and good frames still come out. The property tests of the same rules below the node:
test_input_fuzz.py.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ros_helpers import LR_INFO, H, S, Stream, W, camera_info, diagnostics, frame, running_node, stamp_ns
from stdnet_ros.messages.image import image_to_depth_m

RGB, DEPTH, DEPTH_INFO = "/rgb/image", "/depth/image", "/depth/camera_info"
LR = (H // S, W // S)


@dataclass
class Case:
    """``build(stream) -> (rgb_msg, depth_msg)`` of the case's frame; ``drop``: the (topic, reason) it is counted
    under, None for a valid input; ``log``: a fragment of the node's log line for it; ``info``: a CameraInfo sent
    on depth/camera_info before the frame (else a good one); ``info_rejected``: the CameraInfo is what is dropped,
    the frame itself comes out (without intrinsics)."""

    build: Callable[[Stream], tuple]
    drop: tuple[str, str] | None = None
    log: str = ""
    info: object = None
    info_rejected: bool = False

    @property
    def frame_comes_out(self) -> bool:
        return self.drop is None or self.info_rejected


def pair(stream: Stream, depth_m=None, encoding="32FC1", frame_id="camera_color_optical_frame", stamp=None):
    rgb, depth = stream.arrays()
    return frame(
        stream.stamp() if stamp is None else stamp, rgb, depth if depth_m is None else depth_m, encoding, frame_id
    )


def edited(target: int, **fields):
    """A case builder: a good pair with ``fields`` set on message ``target`` (0 RGB, 1 depth); a callable value
    gets the message."""

    def build(stream):
        msgs = pair(stream)
        for name, value in fields.items():
            setattr(msgs[target], name, value(msgs[target]) if callable(value) else value)
        return msgs

    return build


def with_depth(depth_m, encoding="32FC1"):
    return lambda stream: pair(stream, depth_m, encoding)


def padded(target: int, extra: int):
    """Rows padded with ``extra`` bytes each (valid: step > width x bytes per pixel)."""

    def pad(msg):
        rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
        return np.pad(rows, ((0, 0), (0, extra)), constant_values=0xAB).tobytes()

    def build(stream):
        msgs = pair(stream)
        msg = msgs[target]
        msg.data = pad(msg)
        msg.step = msg.step + extra
        return msgs

    return build


def big_endian_depth(stream):
    rgb_msg, depth_msg = pair(stream)
    depth_msg.data = np.frombuffer(bytes(depth_msg.data), "<f4").astype(">f4").tobytes()
    depth_msg.is_bigendian = 1
    return rgb_msg, depth_msg


def with_stamp(stamp_of):
    return lambda stream: pair(stream, stamp=stamp_of(stream))


def mixed_invalid_depth():
    depth = np.full(LR, 2.0, np.float32)
    depth[0, :4] = [np.nan, np.inf, -1.0, 1e30]
    return depth


def info_message(**fields):
    msg = camera_info(**{**LR_INFO, **{k: v for k, v in fields.items() if k in LR_INFO}})
    for name, value in fields.items():
        if name not in LR_INFO:
            setattr(msg, name, value)
    return msg


def fmt(topic):
    return (topic, "format")


CASES = {
    **{
        f"depth encoding {enc!r}": Case(edited(1, encoding=enc), fmt(DEPTH), f"{DEPTH}: encoding")
        for enc in ("bgr8", "mono8", "8UC1", "16SC1", "32FC3", "", "garbage", "16uc1")
    },
    **{
        f"rgb encoding {enc!r}": Case(edited(0, encoding=enc), fmt(RGB), f"{RGB}: encoding")
        for enc in ("16UC1", "32FC1", "yuv422", "bayer_rggb8", "")
    },
    "depth is_bigendian 1": Case(big_endian_depth),
    "rgb step < width x 3": Case(edited(0, step=3 * W - 1), fmt(RGB), f"{RGB}: step {3 * W - 1} < width {W}"),
    "depth step < width x 4": Case(edited(1, step=4 * (W // S) - 2), fmt(DEPTH), f"{DEPTH}: step"),
    "rgb rows padded": Case(padded(0, 5)),
    "depth rows padded": Case(padded(1, 8)),
    "depth data shorter": Case(edited(1, data=lambda m: bytes(m.data)[:-4]), fmt(DEPTH), f"{DEPTH}: data length"),
    "depth data longer": Case(edited(1, data=lambda m: bytes(m.data) + bytes(4)), fmt(DEPTH), f"{DEPTH}: data length"),
    "rgb data shorter": Case(edited(0, data=lambda m: bytes(m.data)[:-1]), fmt(RGB), f"{RGB}: data length"),
    "rgb width 0": Case(edited(0, width=0), fmt(RGB), f"{RGB}: zero-size image"),
    "depth height 0": Case(edited(1, height=0), fmt(DEPTH), f"{DEPTH}: zero-size image"),
    "huge header, tiny data": Case(
        edited(1, width=100_000, height=100_000, step=400_000), fmt(DEPTH), f"{DEPTH}: data length"
    ),
    "depth one column too many": Case(
        with_depth(np.ones((LR[0], LR[1] + 1), np.float32)), (DEPTH, "size"), f"{DEPTH}: size {LR[1] + 1}x{LR[0]}"
    ),
    "depth transposed": Case(with_depth(np.ones(LR[::-1], np.float32)), (DEPTH, "size"), f"{DEPTH}: size"),
    "depth all NaN": Case(with_depth(np.full(LR, np.nan, np.float32)), (DEPTH, "all_invalid"), "every pixel"),
    "depth all inf": Case(with_depth(np.full(LR, np.inf, np.float32)), (DEPTH, "all_invalid"), "every pixel"),
    "depth all negative": Case(with_depth(np.full(LR, -1.0, np.float32)), (DEPTH, "all_invalid"), "every pixel"),
    "depth all zero 16UC1": Case(with_depth(np.zeros(LR, np.float32), "16UC1"), (DEPTH, "all_invalid"), "every pixel"),
    "depth mixing NaN, inf, -1, 1e30 with valid pixels": Case(with_depth(mixed_invalid_depth())),
    "camera_info K all zero": Case(
        pair,
        (DEPTH_INFO, "camera_info"),
        f"{DEPTH_INFO}: k[0] (fx) is 0.0",
        info_message(fx=0.0, fy=0.0, cx=0.0, cy=0.0),
        info_rejected=True,
    ),
    "camera_info K NaN": Case(
        pair,
        (DEPTH_INFO, "camera_info"),
        f"{DEPTH_INFO}: k[0] (fx) is nan",
        info_message(fx=float("nan")),
        info_rejected=True,
    ),
    "camera_info size differs from the image": Case(
        pair, (DEPTH_INFO, "camera_info"), f"{DEPTH_INFO}: size 20x", info_message(width=20)
    ),
    "camera_info D of the wrong length": Case(pair, info=info_message(d=[0.1, 0.01, 0.0])),
    "camera_info unknown distortion model": Case(
        pair, info=info_message(distortion_model="kannala_brandt_9", d=[0.1] * 9)
    ),
    "frame_id empty": Case(lambda s: pair(s, frame_id=""), (RGB, "frame_id"), "header.frame_id is empty"),
    "frame_id 1000 characters": Case(lambda s: pair(s, frame_id="c" * 1000)),
    "frame_id non-ASCII": Case(lambda s: pair(s, frame_id="kamera_ø_相机_optical")),
    "stamp zero": Case(with_stamp(lambda s: 0), (RGB, "stamp"), "header.stamp is 0 (unset)"),
    "stamp far future": Case(
        with_stamp(lambda s: s.last + 10**6 * 10**9), (RGB, "stamp"), "ahead of this node's clock"
    ),
    "stamp repeated": Case(with_stamp(lambda s: s.last), (RGB, "stamp"), "repeats the previous frame's"),
    "stamp backwards": Case(with_stamp(lambda s: s.last - 10 * 10**9)),
}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


def bursts(stream: Stream) -> list[int]:
    """RGB without depth and depth without RGB, 40 / 30 s in the past (never paired), 8 each; their stamps."""
    sent = []
    for k in range(8):
        for topic, offset, index in (("rgb/image", 40, 0), ("depth/image", 30, 1)):
            stamp = stream.last - offset * 10**9 + k * 10**8
            stream.peer.publish(topic, pair(stream, stamp=stamp)[index])
            sent.append(stamp)
            stream.peer.spin_for(0.03)  # paced: a back-to-back burst may lose samples in DDS (keep-last history)
    return sent


def valid_output(depth_msg, cloud_msgs) -> None:
    """No inf and nothing <= 0 in an output depth image and its cloud's z (NaN marks invalid)."""
    depth = image_to_depth_m(depth_msg)
    finite = depth[np.isfinite(depth)]
    assert not np.isinf(depth).any() and (finite > 0).all(), f"output {stamp_ns(depth_msg)} has inf or <= 0"
    for cloud in cloud_msgs:
        z = np.frombuffer(cloud.data, np.float32).reshape(cloud.height, cloud.width, -1)[..., 2]
        assert not np.isinf(z).any() and (z[np.isfinite(z)] > 0).all()


def test_the_node_survives_a_fuzz_campaign_dropping_and_counting_each_bad_frame(tmp_path):
    with running_node(tmp_path) as (node, peer, stream):
        for _ in range(5):  # warm up before the memory reference
            stream.wait(stream.send())
        rss_before = rss_kib(node.proc.pid)
        first = peer.received["status"][-1]
        expected: dict[tuple[str, str], int] = {}
        dropped, accepted = [], []
        for name, case in CASES.items():
            if case.info is not None:
                peer.publish("depth/camera_info", case.info)
                peer.spin_for(0.1)
            else:
                peer.publish("depth/camera_info", camera_info(**LR_INFO))
            rgb_msg, depth_msg = case.build(stream)
            stamp = stamp_ns(rgb_msg)
            peer.send(rgb_msg, depth_msg)
            if case.frame_comes_out:
                accepted.append((name, stamp, rgb_msg.header.frame_id))
                stream.wait(stamp, ("depth",))
            else:
                dropped.append((name, stamp))
                peer.spin_for(0.1)
            if case.drop is not None:
                expected[case.drop] = expected.get(case.drop, 0) + 1
            good = stream.wait(stream.send())["status"]  # sends a good camera_info first
            assert node.proc.poll() is None, f"{name}: the node died:\n{node.log()[-3000:]}"
            assert good.invalid_drops - first.invalid_drops == sum(expected.values()), (name, node.log()[-2000:])
        burst = bursts(stream)
        last = stream.wait(stream.send())["status"]
        # 8 per input into the synchronizer's queue of 5: at least 3 per input overflow (the rest wait for a
        # partner, as in message_filters, until newer messages push them out)
        assert last.sync_drops - first.sync_drops >= 6 and last.queue_drops == first.queue_drops

        log = node.log()
        for name, case in CASES.items():
            assert case.drop is None or case.log in log, f"{name}: no log line with {case.log!r}"
        out_stamps = {n: Counter(map(stamp_ns, peer.received[n])) for n in ("depth", "info", "points", "status")}
        for name, stamp in dropped + [("burst", s) for s in burst]:
            came_out = 1 if name == "stamp repeated" else 0  # the first frame with that stamp
            assert all(stamps[stamp] == came_out for stamps in out_stamps.values()), name
        for name, stamp, frame_id in accepted:
            assert peer.output("depth", stamp).header.frame_id == frame_id, name
        mixed = image_to_depth_m(peer.output("depth", accepted_stamp(accepted, "mixing")))
        assert np.isnan(mixed[:S, : 4 * S]).all() and np.isfinite(mixed[S:]).all()
        for depth_msg in peer.received["depth"]:
            valid_output(depth_msg, [c for c in peer.received["points"] if stamp_ns(c) == stamp_ns(depth_msg)])

        assert peer.spin_until(lambda: diagnostics(peer).get("invalid drops") == str(last.invalid_drops), 3)
        diag = diagnostics(peer)
        for (topic, reason), count in expected.items():
            assert diag.get(f"invalid drops {topic} ({reason})") == str(count), (topic, reason, diag)
        rss_after = rss_kib(node.proc.pid)
        assert rss_after <= 1.3 * rss_before, f"node RSS {rss_before} -> {rss_after} KiB"
        for _ in range(3):  # good frames still come out, with their camera_info and cloud
            stream.wait(stream.send(), ("depth", "info", "points", "status"))
        assert node.stop() == 0


def accepted_stamp(accepted, fragment: str) -> int:
    return next(stamp for name, stamp, _ in accepted if fragment in name)
