"""The node's parameters, lifecycle and start-up, in-process with real rclpy and torch (no messages between
processes here; see test_node_dds.py), plus two start-ups of the console script that must fail cleanly."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import PointCloud2

from ros_helpers import NODE, ROOT, camera_info, frame, free_domain, tiny_weights
from stdnet_ros.ros import parameters
from stdnet_ros.ros.node import LatestQueue, OutputSettings, StdnetNode


def flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return tiny_weights(tmp_path_factory.mktemp("weights") / "tiny-causal.safetensors")


@pytest.fixture
def context(monkeypatch):
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=free_domain())
    yield ctx
    rclpy.shutdown(context=ctx)


def make_node(context, **overrides) -> StdnetNode:
    params = [Parameter(name, value=value) for name, value in {"autostart": False, **overrides}.items()]
    return StdnetNode(context=context, parameter_overrides=params)


def set_param(node, name, value):
    (result,) = node.set_parameters([Parameter(name, value=value)])
    return result


def test_config_yaml_holds_every_declared_default(context):
    config = yaml.safe_load((ROOT / "config" / "stdnet.yaml").read_text())
    from_yaml = flatten(config["/**"]["ros__parameters"])
    declared = {spec.name: spec.default for spec in parameters.SPECS}
    assert from_yaml == declared
    assert {k: type(v) for k, v in from_yaml.items()} == {k: type(v) for k, v in declared.items()}
    node = StdnetNode(context=context, cli_args=["--ros-args", "--params-file", str(ROOT / "config/stdnet.yaml")])
    assert parameters.read(node) == declared
    (scale, slop, autostart) = node.describe_parameters(["scale", "slop", "autostart"])
    assert "one of 4, 8, 16" in scale.additional_constraints and "while unconfigured" in scale.additional_constraints
    assert (slop.floating_point_range[0].from_value, slop.floating_point_range[0].to_value) == (0.0001, 1.0)
    assert autostart.read_only
    node.destroy_node()


def test_live_parameters_apply_and_configure_time_ones_are_rejected_while_configured(context, weights):
    node = make_node(context, weights=str(weights), device="cpu")
    node.autostart()
    assert node._state == "active"
    for name, value in (
        ("output_encoding", "16UC1"),
        ("cloud_fields", "xyz"),
        ("cloud_decimation", 4),
        ("publish_cloud", False),
        ("max_gap", 2.0),
        ("slop", 0.05),
        ("exact_sync", True),
    ):
        assert set_param(node, name, value).successful, name
    assert node._output_settings == OutputSettings("16UC1", False, "xyz", 4)
    assert node._pipeline.max_gap == 2.0
    assert type(node._sync.sync).__name__ == "TimeSynchronizer"  # the synchronizer was rebuilt exact
    result = set_param(node, "scale", 8)
    assert not result.successful and "scale: cannot change while the node is configured" in result.reason
    assert node.get_parameter("scale").value == 4
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert not set_param(node, "mode", "bidirectional").successful  # inactive is still configured
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert set_param(node, "scale", 8).successful  # unconfigured: read at the next configure
    node.destroy_node()


@pytest.mark.parametrize(
    "name, value, reason",
    [
        ("mode", "offline", "mode: 'offline' is not one of causal, bidirectional"),
        ("scale", 6, "scale: 6 is not one of 4, 8, 16"),
        ("device", "tpu", "device: 'tpu' does not match auto|cpu|cuda(:\\d+)?"),
        ("precision", "int8", "precision: 'int8' is not one of auto, fp32, bf16, fp16"),
        ("output_encoding", "mono16", "output_encoding: 'mono16' is not one of 32FC1, 16UC1"),
        ("cloud_fields", "xyzi", "cloud_fields: 'xyzi' is not one of xyz, xyzrgb"),
        ("input_qos.reliability", "system_default", "is not one of best_effort, reliable"),
        ("weights", "", "weights: '' does not match .+"),
        ("cloud_decimation", 0, "out of range"),
        ("slop", 5.0, "out of range"),
        ("queue_size", "5", "Wrong parameter type"),
        ("autostart", False, "read-only"),
    ],
)
def test_invalid_values_are_rejected_with_the_reason(context, name, value, reason):
    node = make_node(context)
    before = node.get_parameter(name).value
    result = set_param(node, name, value)
    assert not result.successful and reason in result.reason
    assert node.get_parameter(name).value == before
    node.destroy_node()


def test_a_missing_or_bad_weights_file_fails_configure_and_the_node_stays_up(context, tmp_path, weights):
    node = make_node(context, weights=str(tmp_path / "missing.safetensors"), device="cpu")
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert "missing.safetensors: does not exist" in node._configure_error and node._state == "unconfigured"
    (status,) = node.diagnostics().status
    assert status.level == DiagnosticStatus.ERROR and "missing.safetensors: does not exist" in status.message
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    assert set_param(node, "weights", str(bad)).successful
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert "bad.safetensors: not a safetensors file" in node._configure_error
    assert set_param(node, "mode", "bidirectional").successful and set_param(node, "weights", str(weights)).successful
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE  # causal weights for bidirectional mode
    assert "config mismatch: directions='causal' (expected 'bidirectional')" in node._configure_error
    assert set_param(node, "mode", "causal").successful
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS and node._configure_error == ""
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert sorted(s.topic_name for s in node.subscriptions) == [
        "/depth/camera_info",
        "/depth/image",
        "/rgb/camera_info",
        "/rgb/image",
    ]
    assert sorted(p.topic_name for p in node.publishers if "depth_sr" in p.topic_name or "status" in p.topic_name) == [
        "/depth_sr/camera_info",
        "/depth_sr/image",
        "/depth_sr/image/compressedDepth",
        "/depth_sr/points",
        "/stdnet_node/status",
    ]
    node.trigger_deactivate()
    assert [s.topic_name for s in node.subscriptions if "image" in s.topic_name] == []
    node.destroy_node()


def test_latest_queue_drops_the_oldest_item_when_full():
    queue = LatestQueue(maxlen=1)
    assert not queue.put("a")
    assert queue.put("b")  # a dropped
    assert queue.get(timeout=0) == "b" and queue.get(timeout=0.01) is None


def test_an_invalid_start_up_value_stops_the_executable_with_the_reason():
    env = dict(os.environ, ROS_DOMAIN_ID=str(free_domain()), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    done = subprocess.run(
        [str(NODE), "--ros-args", "--params-file", str(ROOT / "config/stdnet.yaml"), "-p", "scale:=6"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2
    assert "invalid parameter" in done.stderr and "scale: 6 is not one of 4, 8, 16" in done.stderr


def test_without_the_message_build_the_node_says_how_to_build_it(tmp_path):
    code = (
        "import sys, functools, pathlib, stdnet_ros.ros.node as n; n.load_interfaces = "
        f"functools.partial(n.load_interfaces, pathlib.Path({str(tmp_path)!r})); sys.exit(n.main([]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AMENT_PREFIX_PATH")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 1
    assert "run `make msgs`" in done.stderr and "colcon build" in done.stderr


def test_the_cloud_is_built_only_while_someone_subscribes(context, weights):
    node = make_node(context, weights=str(weights), device="cpu")
    node.autostart()
    node._pipeline.set_camera_info(camera_info(40.0, 40.0, 7.5, 5.5, 16, 12), "depth")
    rng = np.random.default_rng(0)

    def process():
        stamp = time.time_ns()
        node.process(
            *frame(
                stamp, rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), rng.uniform(1, 2, (12, 16)).astype(np.float32)
            )
        )

    process()
    assert node._cloud._msg is None  # nobody subscribed: never filled
    peer = rclpy.create_node("cloud_subscriber", context=context)
    peer.create_subscription(PointCloud2, "depth_sr/points", lambda msg: None, 2)
    deadline = time.monotonic() + 10
    while node._outputs["cloud"].get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    process()
    assert node._cloud._msg is not None and node._cloud._msg.width == 64
    assert node.stats.outputs == 2
    peer.destroy_node()
    node.destroy_node()


def test_deactivation_publishes_the_frames_still_pending_in_delayed_mode(context, tmp_path):
    weights = tiny_weights(tmp_path / "tiny-bidirectional.safetensors", mode="bidirectional")
    node = make_node(context, weights=str(weights), device="cpu", mode="bidirectional", max_gap=100.0)
    node.autostart()
    published, publish = [], node.publish
    node.publish = lambda out: (published.append(out.stamp_ns), publish(out))
    node._on_camera_info(camera_info(40.0, 40.0, 31.5, 23.5, 64, 48), "rgb")
    node._on_camera_info(camera_info(10.0, 10.0, 7.5, 5.5, 16, 12), "depth")
    rng = np.random.default_rng(0)
    stamps = [1_000_000_000 + k * 33_000_000 for k in range(6)]
    for stamp in stamps:
        node.process(
            *frame(
                stamp, rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), rng.uniform(1, 3, (12, 16)).astype(np.float32)
            )
        )
    assert published == stamps[:2]  # 4 frames wait for their future
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert published == stamps and node.stats.invalid_drops == 0
    node.trigger_cleanup()
    node.destroy_node()


def test_standard_qos_overrides_win_for_their_topic_and_input_output_qos_stay_the_defaults(context, weights):
    node = make_node(
        context,
        weights=str(weights),
        device="cpu",
        **{
            "qos_overrides./rgb/image.subscription.reliability": "reliable",
            "qos_overrides./rgb/image.subscription.depth": 3,
            "qos_overrides./depth_sr/image.publisher.depth": 7,
        },
    )
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    subs = {s.topic_name: s.qos_profile for s in node.subscriptions if "image" in s.topic_name}
    pubs = {p.topic_name: p.qos_profile for p in node.publishers if "depth_sr" in p.topic_name}
    assert (subs["/rgb/image"].reliability, subs["/rgb/image"].depth) == (ReliabilityPolicy.RELIABLE, 3)
    assert (subs["/depth/image"].reliability, subs["/depth/image"].depth) == (ReliabilityPolicy.BEST_EFFORT, 5)
    assert (pubs["/depth_sr/image"].reliability, pubs["/depth_sr/image"].depth) == (ReliabilityPolicy.RELIABLE, 7)
    assert pubs["/depth_sr/camera_info"].depth == 2
    assert not set_param(node, "qos_overrides./rgb/image.subscription.depth", 4).successful  # read-only
    assert not node.has_parameter("qos_overrides./depth/image.subscription.depth")  # not given: not declared
    node.trigger_deactivate()
    node.destroy_node()
