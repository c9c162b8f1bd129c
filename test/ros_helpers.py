"""Shared helpers for tests that run ``stdnet_node`` as its own process and talk to it over real DDS.

Isolation: every test module gets its own ROS_DOMAIN_ID and ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, so
parallel test runs and other machines never see each other. The node process gets config/fastdds.xml as its
Fast DDS profile (the launch file does the same) and the stdnet_ros_interfaces build on its paths.
"""

import contextlib
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
import torch
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header

from conftest import TINY
from stdnet_ros.messages.compressed import depth_m_to_compressed_depth, rgb_to_compressed
from stdnet_ros.messages.image import depth_m_to_image, rgb_to_image
from stdnet_ros.model import build_model, save_weights
from stdnet_ros.ros import interfaces_env, load_interfaces

ROOT = Path(__file__).resolve().parents[1]
NODE = Path(sys.executable).parent / "stdnet_node"  # the console script installed by `pip install -e .`
FASTDDS_PROFILE = ROOT / "config" / "fastdds.xml"
INPUTS = ("rgb/image", "depth/image", "rgb/camera_info", "depth/camera_info")
COMPRESSED_INPUTS = {"rgb": "rgb/image/compressed", "depth": "depth/image/compressedDepth"}  # the transports' topics


def free_domain() -> int:
    """A ROS domain id for one test module (20..99; test_msgs uses 100..200)."""
    return random.randint(20, 99)


def tiny_weights(path: Path, mode: str = "causal", scale: int = 4) -> Path:
    """Save a tiny random STDNet (fast on a CPU) as ``path``; returns it."""
    torch.manual_seed(0)
    save_weights(build_model("stdnet", directions=mode, stages=1, scale=scale, **TINY), path)
    return path


def params_file(path: Path, **overrides) -> Path:
    """config/stdnet.yaml with ``overrides`` (dotted names for nested keys) written to ``path``."""
    config = yaml.safe_load((ROOT / "config" / "stdnet.yaml").read_text())
    params = config["/**"]["ros__parameters"]
    for name, value in overrides.items():
        *parents, leaf = name.split(".")
        node = params
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(config))
    return path


class NodeProcess:
    """``stdnet_node --ros-args --params-file PARAMS`` in its own process, output captured to a log file."""

    def __init__(self, params: Path, domain: int, log: Path, ros_args: tuple[str, ...] = ()):
        env = interfaces_env()
        env.update(
            ROS_DOMAIN_ID=str(domain),
            ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
            FASTDDS_DEFAULT_PROFILES_FILE=str(FASTDDS_PROFILE),
            PYTHONUNBUFFERED="1",
            OMP_NUM_THREADS="1",
        )  # 2 busy shared cores: one torch thread is 10x steadier
        self.log_path = log
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [str(NODE), "--ros-args", "--params-file", str(params), *ros_args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, timeout: float = 15) -> int:
        """SIGINT, then the exit code (killed after ``timeout`` s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def frame(
    stamp_ns: int,
    rgb: np.ndarray,
    depth_m: np.ndarray,
    depth_encoding: str = "32FC1",
    frame_id: str = "camera_color_optical_frame",
    compressed: bool = False,
) -> tuple:
    """(rgb8 Image, depth Image), each with its own header (same stamp and frame_id); with ``compressed`` a PNG
    ``compressed`` and a ``compressedDepth`` CompressedImage instead."""
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    if compressed:
        rgb_msg = rgb_to_compressed(rgb, CompressedImage, Header(frame_id=frame_id), codec="png")
        depth_msg = depth_m_to_compressed_depth(depth_m, CompressedImage, Header(frame_id=frame_id), depth_encoding)
    else:
        rgb_msg = rgb_to_image(rgb, Image, Header(frame_id=frame_id))
        depth_msg = depth_m_to_image(depth_m, Image, Header(frame_id=frame_id), depth_encoding)
    for msg in (rgb_msg, depth_msg):
        msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    return rgb_msg, depth_msg


def camera_info(fx: float, fy: float, cx: float, cy: float, width: int, height: int) -> CameraInfo:
    return CameraInfo(
        width=width,
        height=height,
        k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
        distortion_model="plumb_bob",
        d=[0.0] * 5,
    )


def stamp_ns(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


class Peer:
    """The test's side of the graph: publishers of the node's inputs (reliable and best effort) and collectors
    of its outputs, in a private rclpy context on ``domain``."""

    def __init__(self, domain: int, node_name: str = "stdnet_node"):
        load_interfaces()
        from stdnet_ros_interfaces.msg import SuperResolutionStatus

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node("stdnet_test_peer", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.publishers = {}
        for reliability in (ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT):
            qos = QoSProfile(depth=10, reliability=reliability)
            for topic in INPUTS:
                msg_type = CameraInfo if topic.endswith("camera_info") else Image
                self.publishers[topic, reliability] = self.node.create_publisher(msg_type, topic, qos)
            for topic in COMPRESSED_INPUTS.values():
                self.publishers[topic, reliability] = self.node.create_publisher(CompressedImage, topic, qos)
        self.received = {name: [] for name in ("depth", "info", "points", "status", "diagnostics")}
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self._outputs = []
        for name, msg_type, topic in (
            ("depth", Image, "depth_sr/image"),
            ("info", CameraInfo, "depth_sr/camera_info"),
            ("points", PointCloud2, "depth_sr/points"),
            ("status", SuperResolutionStatus, f"{node_name}/status"),
            ("diagnostics", DiagnosticArray, "/diagnostics"),
        ):
            sub = self.node.create_subscription(msg_type, topic, self.received[name].append, reliable)
            if name != "diagnostics":
                self._outputs.append(sub)

    def publish(self, topic: str, msg, reliable: bool = True) -> None:
        key = (topic, ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)
        self.publishers[key].publish(msg)

    def send(self, rgb_msg, depth_msg, reliable: bool = True) -> None:
        """Publish a pair on the topics of its message types (raw Image or the compressed transports)."""
        compressed = isinstance(rgb_msg, CompressedImage)
        self.publish(COMPRESSED_INPUTS["rgb"] if compressed else "rgb/image", rgb_msg, reliable)
        compressed = isinstance(depth_msg, CompressedImage)
        self.publish(COMPRESSED_INPUTS["depth"] if compressed else "depth/image", depth_msg, reliable)

    def spin_until(self, predicate, timeout: float) -> bool:
        """Spin until ``predicate()`` is true (True) or ``timeout`` seconds passed (False)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            self.executor.spin_once(timeout_sec=0.02)
        return True

    def spin_for(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def wait_matched(self, timeout: float) -> bool:
        """True once each input has a subscriber on one of its topics (the raw one or its transport's), for both
        reliabilities, and the node publishes the four outputs to us."""
        inputs = [(t, COMPRESSED_INPUTS[t.split("/")[0]]) if t.endswith("image") else (t,) for t in INPUTS]

        def subscribed(topic: str) -> bool:
            return all(p.get_subscription_count() > 0 for (t, _), p in self.publishers.items() if t == topic)

        def matched():
            return all(any(subscribed(t) for t in topics) for topics in inputs) and all(
                s.get_publisher_count() > 0 for s in self._outputs
            )

        return self.spin_until(matched, timeout)

    def output(self, name: str, stamp: int):
        """The received ``name`` message stamped ``stamp`` (ns), or None."""
        return next((m for m in self.received[name] if stamp_ns(m) == stamp), None)

    def close(self) -> None:
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


# The synthetic stream of the DDS node tests: HR RGB (H, W), LR depth (H/S, W/S).
H, W, S = 48, 64, 4
RGB_FRAME, DEPTH_FRAME = "camera_color_optical_frame", "tof_optical_frame"
LR_INFO = dict(fx=40.0, fy=42.0, cx=7.5, cy=5.25, width=W // S, height=H // S)
TIMEOUT = 15.0


class Stream:
    """Synthetic frames with strictly increasing wall-clock stamps, sent by the peer."""

    def __init__(self, peer: Peer, node: NodeProcess, compressed: bool = False):
        self.peer = peer
        self.node = node
        self.compressed = compressed  # send the compressed transports (the node's *_transport parameters)
        self.rng = np.random.default_rng(0)
        self.last = 0

    def stamp(self) -> int:
        self.last = max(time.time_ns(), self.last + 1_000_000)
        return self.last

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(rgb (H, W, 3) uint8, depth (H/S, W/S) metres on a 1 mm grid)."""
        return (
            self.rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
            (self.rng.integers(500, 4000, (H // S, W // S)) / 1000).astype(np.float32),
        )

    def send(self, rgb=None, depth=None, stamp=None, encoding="32FC1", reliable=True, info=True) -> int:
        """Send one pair (with the LR camera_info first when ``info``); returns its stamp."""
        if rgb is None:
            rgb, depth = self.arrays()
        stamp = self.stamp() if stamp is None else stamp
        rgb_msg, depth_msg = frame(stamp, rgb, depth, encoding, compressed=self.compressed)
        depth_msg.header.frame_id = DEPTH_FRAME
        if info:
            self.peer.publish("depth/camera_info", camera_info(**LR_INFO), reliable)
        self.peer.send(rgb_msg, depth_msg, reliable)
        return stamp

    def wait(self, stamp: int, names=("depth", "status"), timeout: float = TIMEOUT) -> dict:
        """The outputs ``names`` stamped ``stamp`` (fails after ``timeout``)."""
        ok = self.peer.spin_until(lambda: all(self.peer.output(n, stamp) for n in names), timeout)
        assert ok, (
            f"no {names} for stamp {stamp}; got { {n: len(v) for n, v in self.peer.received.items()} }; "
            f"node log:\n{self.node.log()[-3000:]}"
        )
        return {n: self.peer.output(n, stamp) for n in names}


@contextlib.contextmanager
def running_node(tmp: Path, **params):
    """A stdnet_node process with a tiny causal model (config/stdnet.yaml with ``params``) and a Peer on a private
    domain, matched and past its first output; yields (node, peer, stream) and stops both."""
    weights = tiny_weights(tmp / "tiny.safetensors")
    compressed = params.get("rgb_transport") == "compressed"
    params = params_file(tmp / "params.yaml", **{"weights": str(weights), "device": "cpu", "max_gap": 100.0, **params})
    domain = free_domain()
    node = NodeProcess(params, domain, tmp / "node.log")
    peer = Peer(domain)
    try:
        assert peer.wait_matched(60), f"node did not come up:\n{node.log()}"
        stream = Stream(peer, node, compressed=compressed)
        # Discovery completes on the two sides at different moments: repeat until a frame gets through.
        deadline = time.monotonic() + 30
        while not peer.received["depth"]:
            assert time.monotonic() < deadline, f"no output:\n{node.log()}"
            stream.send(info=False)
            peer.spin_for(0.2)
        yield node, peer, stream
    finally:
        peer.close()
        node.stop()


def latest_status(peer):
    return peer.received["status"][-1]


def diagnostics(peer) -> dict:
    """The node's latest /diagnostics values by key, plus its _level and _message."""
    status = peer.received["diagnostics"][-1].status[0]
    return {kv.key: kv.value for kv in status.values} | {"_level": status.level, "_message": status.message}
