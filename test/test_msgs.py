"""Messages across processes over real Fast DDS: the generated stdnet_ros_interfaces/SuperResolutionStatus
(built by `make msgs`; a missing build fails here, it is not skipped) and large best-effort Image/PointCloud2
with config/fastdds.xml on the publisher side only."""

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rclpy
from rclpy.qos import qos_profile_sensor_data
from rclpy.serialization import deserialize_message, serialize_message

from stdnet_ros.ros import InterfacesNotBuiltError, interfaces_env, load_interfaces

ROOT = Path(__file__).resolve().parents[1]
STATUS_FIELDS = {
    "header": "std_msgs/Header",
    "input_stamp": "builtin_interfaces/Time",
    "mode": "string",
    "scale": "uint8",
    "delay_frames": "uint32",
    "model_ms": "float",
    "latency_ms": "float",
    "sync_drops": "uint64",
    "queue_drops": "uint64",
    "invalid_drops": "uint64",
    "resets": "uint64",
}

# Child publisher: waits for our subscriber, sends N messages of one kind at 10 Hz, best effort, then exits.
PUBLISHER = r"""
import sys, time
import numpy as np, rclpy
from rclpy.qos import qos_profile_sensor_data
from std_msgs.msg import Header
kind, count = sys.argv[1], int(sys.argv[2])
rclpy.init()
node = rclpy.create_node("test_msgs_publisher")
if kind == "status":
    from stdnet_ros_interfaces.msg import SuperResolutionStatus as T
    def make(i):
        return T(mode="delayed", scale=4, delay_frames=2, model_ms=12.5, latency_ms=80.25, sync_drops=2**40 + i,
                 queue_drops=1, invalid_drops=2, resets=3)
else:
    from sensor_msgs.msg import Image, PointCloud2, PointField
    from stdnet_ros.depth.cloud_arrays import cloud_buffer
    from stdnet_ros.depth.geometry import Intrinsics
    from stdnet_ros.messages.pointcloud2 import cloud_to_pointcloud2
    from stdnet_ros.messages.image import depth_m_to_image
    intr = Intrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)
    depth = np.full((480, 640), 2.0, np.float32)
    rgb = np.zeros((480, 640, 3), np.uint8)
    T = Image if kind == "image" else PointCloud2
    def make(i):
        if kind == "image":
            return depth_m_to_image(depth, Image, Header())
        return cloud_to_pointcloud2(cloud_buffer(depth, intr, rgb), Header(), PointCloud2, PointField)
pub = node.create_publisher(T, "test_msgs/" + kind, qos_profile_sensor_data)
deadline = time.monotonic() + 20
while pub.get_subscription_count() == 0:
    if time.monotonic() > deadline:
        sys.exit("no subscriber matched in 20 s")
    time.sleep(0.05)
time.sleep(0.5)  # let discovery settle in both directions
for i in range(count):
    msg = make(i)
    msg.header.frame_id = str(i)
    msg.header.stamp = node.get_clock().now().to_msg()
    pub.publish(msg)
    time.sleep(0.1)
time.sleep(0.5)
rclpy.shutdown()
"""


@pytest.fixture
def dds(monkeypatch):
    """(node, executor, child env) on a private ROS domain, loopback discovery, no Fast DDS profile here."""
    domain = random.randint(100, 200)
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.delenv("FASTDDS_DEFAULT_PROFILES_FILE", raising=False)
    monkeypatch.delenv("FASTRTPS_DEFAULT_PROFILES_FILE", raising=False)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node("test_msgs_subscriber", context=ctx)
    executor = rclpy.executors.SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    yield node, executor, env
    node.destroy_node()
    rclpy.shutdown(context=ctx)


def receive(dds, msg_type, kind: str, count: int, extra_env: dict[str, str]) -> list:
    """Spin a best-effort subscriber while a child process publishes ``count`` messages; the messages received."""
    node, executor, env = dds
    received = []
    node.create_subscription(msg_type, f"test_msgs/{kind}", received.append, qos_profile_sensor_data)
    child = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, kind, str(count)],
        env={**env, **extra_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 45
    while child.poll() is None and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.02)
    for _ in range(10):  # drain what arrived just before the child exited
        executor.spin_once(timeout_sec=0.02)
    if child.poll() is None:
        child.kill()
    output = child.communicate()[0]
    assert child.returncode == 0, f"publisher failed ({child.returncode}):\n{output}"
    return received


def test_status_message_is_generated_with_the_documented_fields():
    load_interfaces()  # fails with "run `make msgs`" if the build is missing
    from stdnet_ros_interfaces.msg import SuperResolutionStatus

    assert SuperResolutionStatus.get_fields_and_field_types() == STATUS_FIELDS
    msg = SuperResolutionStatus(mode="causal", scale=8, sync_drops=2**64 - 1)
    msg.input_stamp.sec = 17
    back = deserialize_message(serialize_message(msg), SuperResolutionStatus)
    assert (back.mode, back.scale, back.sync_drops, back.input_stamp.sec) == ("causal", 8, 2**64 - 1, 17)


def test_missing_build_says_to_run_make_msgs(tmp_path):
    with pytest.raises(InterfacesNotBuiltError, match="run `make msgs`"):
        interfaces_env(tmp_path)


def test_status_message_crosses_processes(dds):
    load_interfaces()
    from stdnet_ros_interfaces.msg import SuperResolutionStatus

    got = receive(dds, SuperResolutionStatus, "status", 10, interfaces_env())
    assert len(got) >= 5, f"{len(got)}/10 status messages arrived"
    m = got[-1]
    assert (m.mode, m.scale, m.delay_frames, m.model_ms, m.latency_ms) == ("delayed", 4, 2, 12.5, 80.25)
    assert (m.sync_drops, m.queue_drops, m.invalid_drops, m.resets) == (2**40 + int(m.header.frame_id), 1, 2, 3)


@pytest.mark.parametrize("kind, size", [("image", 640 * 480 * 4), ("cloud", 640 * 480 * 32)])
def test_large_best_effort_messages_arrive_with_the_profile(dds, kind, size):
    from sensor_msgs.msg import Image, PointCloud2

    profile = {"FASTDDS_DEFAULT_PROFILES_FILE": str(ROOT / "config" / "fastdds.xml")}
    got = receive(dds, Image if kind == "image" else PointCloud2, kind, 20, profile)
    assert len(got) >= 18, f"only {len(got)}/20 best-effort {kind} messages of {size / 1e6:.1f} MB arrived"
    assert len(got[0].data) == size
