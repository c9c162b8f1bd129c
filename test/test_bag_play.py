"""`stdnet bag play` in its own process over real Fast DDS: every message arrives, in the recorded order, at the
recorded rate (within 10 %), with /clock following the bag's timeline."""

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image

from stdnet_ros.bags import sample
from stdnet_ros.bags.messages import stamp_ns
from stdnet_ros.bags.reader import BagReader

FRAMES = 30
STDNET = Path(sys.executable).parent / "stdnet"


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    root = tmp_path_factory.mktemp("play")
    for storage in ("mcap", "sqlite3"):
        sample.write_sample_bag(root / storage, FRAMES, 64, 48, 4, storage=storage)
    return root


@pytest.fixture
def peer(monkeypatch):
    """A subscriber node on a private domain (loopback discovery); yields (node, executor, received, env)."""
    domain = random.randint(100, 200)
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node("bag_play_test", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    received = {"rgb": [], "depth": [], "clock": []}
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    for key, topic in (("rgb", sample.RGB_TOPIC), ("depth", sample.DEPTH_TOPIC)):
        node.create_subscription(Image, topic, lambda m, k=key: received[k].append((time.monotonic(), m)), reliable)
    node.create_subscription(
        Clock,
        "/clock",
        lambda m: received["clock"].append(stamp_ns(m.clock)),
        QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT),
    )
    yield node, executor, received, dict(os.environ)
    node.destroy_node()
    rclpy.shutdown(context=ctx)


@pytest.mark.parametrize("storage, rate", [("mcap", 1.0), ("sqlite3", 2.0)])
def test_replay_keeps_order_and_rate(bags, peer, storage, rate):
    node, executor, received, env = peer
    bag = bags / storage
    proc = subprocess.Popen(
        [
            str(STDNET),
            "bag",
            "play",
            str(bag),
            "--rate",
            str(rate),
            "--clock",
            "--wait-for-subscribers",
            "30",
            "--topics",
            sample.RGB_TOPIC,
            sample.DEPTH_TOPIC,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.005)
    executor.spin_once(timeout_sec=0.1)
    if proc.poll() is None:
        proc.kill()
    output = proc.communicate()[0]
    assert proc.returncode == 0, output
    with BagReader(bag) as reader:
        recorded = [t for _, t, _ in reader.cdr_messages([sample.RGB_TOPIC])]
    for key in ("rgb", "depth"):
        stamps = [stamp_ns(m.header.stamp) for _, m in received[key]]
        assert stamps == recorded, f"{key}: {len(stamps)}/{FRAMES} received or out of order"
    arrivals = np.array([t for t, _ in received["rgb"]])
    expected = (recorded[-1] - recorded[0]) / 1e9 / rate
    assert abs((arrivals[-1] - arrivals[0]) - expected) <= 0.1 * expected
    np.testing.assert_allclose(np.median(np.diff(arrivals)), expected / (FRAMES - 1), rtol=0.1)
    clock = received["clock"]
    assert len(clock) >= FRAMES // 2 and clock == sorted(clock)
    assert recorded[0] <= clock[0] and clock[-1] == recorded[-1]


def test_named_subscriber_count_is_waited_for(bags, peer):
    """--subscribers TOPIC=N holds the replay until N readers of TOPIC matched, and fails naming TOPIC otherwise."""
    node, executor, received, env = peer
    command = [
        str(STDNET),
        "bag",
        "play",
        str(bags / "mcap"),
        "--topics",
        sample.RGB_TOPIC,
        "--subscribers",
        f"{sample.RGB_TOPIC}=2",
        "--wait-for-subscribers",
    ]

    def play(timeout_s: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            command + [timeout_s], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.005)
        executor.spin_once(timeout_sec=0.1)
        if proc.poll() is None:
            proc.kill()
        return proc

    short = play("3")
    output = short.communicate()[0]
    assert short.returncode == 2 and f"too few subscribers on {sample.RGB_TOPIC}" in output, output
    assert received["rgb"] == []
    second = []
    node.create_subscription(
        Image, sample.RGB_TOPIC, second.append, QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    )
    full = play("30")
    output = full.communicate()[0]
    assert full.returncode == 0 and f"{sample.RGB_TOPIC} 2" in output, output
    assert len(received["rgb"]) == len(second) == FRAMES


@pytest.mark.parametrize("text", ["/rgb", "/rgb=0", "/rgb=two", "=2", "/rgb=-1"])
def test_subscriber_count_argument_is_checked(text):
    result = subprocess.run(
        [str(STDNET), "bag", "play", "missing_bag", "--subscribers", text], capture_output=True, text=True
    )
    assert result.returncode == 2 and "expected TOPIC=N with N >= 1" in result.stderr, result.stderr
