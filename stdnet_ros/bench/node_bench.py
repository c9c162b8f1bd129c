"""``stdnet bench node``: what the ROS node adds to the model, at 640x480 output.

Overhead per frame, everything but the model forward: deserialising the RGB and depth messages (what rclpy
   does on take), synchronisation, conversion and validation, the output depth image, camera_info, cloud and
   status, and publishing them to a subscriber in another process (reliable, config/fastdds.xml). The model is
   replaced by an engine that returns a constant HR depth at once. p50/p95 with the cloud off, xyz and xyzrgb.
End-to-end latency with the model is ``stdnet bench latency``.
"""

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from ..messages.image import depth_m_to_image, rgb_to_image
from ..model import build_model, save_weights
from ..ros.node import StdnetNode
from ..ros.sync import InputSync
from ..streaming import resolve_device
from . import record

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "config" / "fastdds.xml"
CLOUD_SETTINGS = {
    "off": {"publish_cloud": False},
    "xyz": {"publish_cloud": True, "cloud_fields": "xyz"},
    "xyzrgb": {"publish_cloud": True, "cloud_fields": "xyzrgb"},
}
# Another process subscribing to the node's outputs (raw: it does not pay for deserialising them).
SUBSCRIBER = r"""
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
rclpy.init()
node = rclpy.create_node("node_bench_subscriber")
for msg_type, topic in ((Image, "depth_sr/image"), (CameraInfo, "depth_sr/camera_info"),
                        (PointCloud2, "depth_sr/points")):
    node.create_subscription(msg_type, topic, lambda msg: None, QoSProfile(depth=2), raw=True)
try:
    rclpy.spin(node)
except (KeyboardInterrupt, ExternalShutdownException):
    pass
"""


class InstantEngine:
    """Stands in for StreamingEngine with the model forward removed: a constant HR depth for every push."""

    def __init__(self, engine, hr_depth_m: np.ndarray):
        self.scale, self.delay, self.device, self.precision = engine.scale, 0, engine.device, engine.precision
        self.max_gap, self.resets = engine.max_gap, 0
        self._depth = hr_depth_m

    def push(self, rgb, lr_depth, stamp):
        return [(stamp, self._depth)]

    def reset(self):
        pass


def inputs(args) -> tuple[bytes, bytes, CameraInfo]:
    """Serialized rgb8 RGB and 16UC1 LR depth (5 % holes) of one random frame, and the LR camera_info."""
    rng = np.random.default_rng(0)
    h, w = args.height // args.scale, args.width // args.scale
    depth = (0.5 + 4 * rng.random((h, w))).astype(np.float32)
    depth[rng.random((h, w)) < 0.05] = 0
    rgb = rng.integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
    info = CameraInfo(
        width=w,
        height=h,
        k=[w * 0.8, 0.0, w / 2 - 0.5, 0.0, w * 0.8, h / 2 - 0.5, 0.0, 0.0, 1.0],
        d=[0.0] * 5,
        distortion_model="plumb_bob",
    )
    header = Header(frame_id="camera_color_optical_frame")
    return (
        serialize_message(rgb_to_image(rgb, Image, header)),
        serialize_message(depth_m_to_image(depth, Image, header, "16UC1")),
        info,
    )


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"node bench: timed out waiting for {what}")
        time.sleep(0.05)


def overhead(args, weights: Path, domain: int) -> dict:
    """p50 / p95 ms per frame of the node's own work, for each cloud setting."""
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    subscriber = subprocess.Popen([sys.executable, "-c", SUBSCRIBER], env=dict(os.environ, ROS_DOMAIN_ID=str(domain)))
    try:
        node = StdnetNode(
            context=context,
            parameter_overrides=[
                rclpy.parameter.Parameter(n, value=v)
                for n, v in (("autostart", False), ("weights", str(weights)), ("device", "cpu"), ("scale", args.scale))
            ],
        )
        node.autostart()
        hr = np.random.default_rng(1).uniform(0.5, 4.5, (args.height, args.width)).astype(np.float32)
        node._pipeline.engine = InstantEngine(node._pipeline.engine, hr)  # the measured part excludes the model
        rgb_bytes, depth_bytes, info = inputs(args)
        node._pipeline.set_camera_info(info, "depth")
        wait_for(
            lambda: all(p.get_subscription_count() for p in node._outputs.values() if "status" not in p.topic_name),
            30,
            "the subscriber process",
        )
        pairs = []
        sync = InputSync(2, lambda *pair: pairs.append(pair), queue_size=5, slop=0.015, exact_sync=False)
        results, stamp_ns = {}, time.time_ns()
        for name, settings in CLOUD_SETTINGS.items():
            node.set_parameters([rclpy.parameter.Parameter(k, value=v) for k, v in settings.items()])
            times = []
            for _ in range(args.frames + 10):  # 10 warm-up frames
                stamp_ns += 33_333_333
                start = time.perf_counter()
                for index, data in enumerate((rgb_bytes, depth_bytes)):
                    msg = deserialize_message(data, Image)
                    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
                    sync.push(msg, index)
                node.process(*pairs.pop())
                times.append(time.perf_counter() - start)
            steady = times[10:]
            results[name] = {"p50_ms": 1000 * statistics.median(steady), "p95_ms": record.percentile_ms(steady, 95)}
            print(
                f"node overhead, cloud {name}: p50 {results[name]['p50_ms']:.2f} ms, "
                f"p95 {results[name]['p95_ms']:.2f} ms"
            )
        node.destroy_node()
        return results
    finally:
        subscriber.send_signal(signal.SIGINT)
        subscriber.wait()
        rclpy.shutdown(context=context)


def run(args) -> int:
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(PROFILE))  # as the launch file does
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    domain = 150 + os.getpid() % 50
    with tempfile.TemporaryDirectory() as tmp:
        tiny = Path(tmp) / "tiny.safetensors"  # the overhead run never calls the model
        save_weights(
            build_model(
                "stdnet",
                directions="causal",
                stages=1,
                scale=args.scale,
                channels=16,
                encoder_blocks=(1, 1),
                extract_blocks=1,
                recon_blocks=1,
                tdm_rcabs=1,
                reduction=4,
            ),
            tiny,
        )
        results = {
            "width": args.width,
            "height": args.height,
            "scale": args.scale,
            "frames": args.frames,
            "load_average_1min_before": os.getloadavg()[0],  # other processes on the same cores
            "overhead_ms": overhead(args, tiny, domain),
        }
    path = record.write("node", resolve_device(args.device), results, args.out)
    print(f"wrote {path}")
    return 0
