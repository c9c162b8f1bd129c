"""launch/stdnet.launch.py without ROS 2 launch installed: tiny stand-ins for launch, launch_ros and
ament_index_python record what the file declares and hands the node; the node then takes those parameters.
Where launch_ros is installed, test_launch_testing.py runs the real thing instead."""

import importlib.util
import sys
import types

import pytest
import rclpy
import yaml

from ros_helpers import ROOT, free_domain
from stdnet_ros.ros import parameters
from stdnet_ros.ros.node import StdnetNode

if importlib.util.find_spec("launch_ros") is not None:  # checked before any stand-in is installed
    pytest.skip("launch_ros is installed: test_launch_testing.py runs the launch file itself", allow_module_level=True)


class Recorder:
    """Keeps its constructor arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class LaunchConfiguration(Recorder):
    def perform(self, context) -> str:
        return context[self.args[0]]


@pytest.fixture
def launch_file(monkeypatch):
    """The launch module, imported against stand-ins (share directory = the repository root)."""
    stubs = {
        "launch": {"LaunchDescription": Recorder},
        "launch.actions": {"DeclareLaunchArgument": Recorder, "OpaqueFunction": Recorder},
        "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration},
        "launch_ros": {},
        "launch_ros.actions": {"Node": Recorder},
        "ament_index_python": {},
        "ament_index_python.packages": {"get_package_share_directory": lambda package: str(ROOT)},
    }
    for name, attributes in stubs.items():
        monkeypatch.setitem(sys.modules, name, types.SimpleNamespace(**attributes))
    spec = importlib.util.spec_from_file_location("stdnet_launch", ROOT / "launch" / "stdnet.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def launch(module, **given) -> tuple[dict, list]:
    """(declared argument defaults, actions) for the launch arguments ``given`` (others at their defaults)."""
    description = module.generate_launch_description()
    *declared, opaque = description.args[0]
    defaults = {a.args[0]: a.kwargs["default_value"] for a in declared}
    context = {**defaults, **given}
    return defaults, opaque.kwargs["function"](context, *opaque.kwargs["args"])


def test_declared_arguments_and_defaults(launch_file):
    defaults, _ = launch(launch_file)
    assert defaults == {
        "params_file": str(ROOT / "config" / "stdnet.yaml"),
        "namespace": "",
        "mode": "",
        "scale": "",
        "weights": "",
        "device": "",
        "rgb_topic": "rgb/image",
        "depth_topic": "depth/image",
        "rgb_info_topic": "rgb/camera_info",
        "depth_info_topic": "depth/camera_info",
        "use_sim_time": "false",
        "rviz": "false",
        "fixed_frame": "",
    }


def test_defaults_hand_the_node_the_params_file_and_the_fast_dds_profile(launch_file, monkeypatch):
    for variable in launch_file.PROFILE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    _, actions = launch(launch_file)
    (node,) = actions  # no RViz by default
    kwargs = node.kwargs
    assert (kwargs["package"], kwargs["executable"], kwargs["name"], kwargs["namespace"]) == (
        "stdnet_ros",
        "stdnet_node",
        "stdnet_node",
        "",
    )
    assert kwargs["parameters"] == [str(ROOT / "config" / "stdnet.yaml"), {"use_sim_time": False}]
    assert kwargs["remappings"] == [
        (t, t) for t in ("rgb/image", "depth/image", "rgb/camera_info", "depth/camera_info")
    ]
    profile = ROOT / "config" / "fastdds.xml"
    assert profile.is_file()
    assert kwargs["additional_env"] == {
        "FASTDDS_DEFAULT_PROFILES_FILE": str(profile),
        "FASTRTPS_DEFAULT_PROFILES_FILE": str(profile),
    }


def test_a_profile_the_user_set_is_kept(launch_file, monkeypatch):
    monkeypatch.setenv("FASTRTPS_DEFAULT_PROFILES_FILE", "/mine.xml")
    _, (node,) = launch(launch_file)
    assert node.kwargs["additional_env"] == {}


def test_arguments_override_the_params_file_remap_topics_and_open_rviz(launch_file):
    _, (node, rviz) = launch(
        launch_file,
        namespace="front",
        mode="bidirectional",
        scale="8",
        weights="/w.safetensors",
        device="cuda:1",
        rgb_topic="/cam/color/image_rect",
        depth_topic="/tof/depth",
        rgb_info_topic="/cam/color/camera_info",
        depth_info_topic="/tof/camera_info",
        use_sim_time="true",
        rviz="true",
        fixed_frame="base_link",
    )
    assert node.kwargs["namespace"] == "front"
    assert node.kwargs["parameters"][1] == {
        "mode": "bidirectional",
        "scale": 8,
        "weights": "/w.safetensors",
        "device": "cuda:1",
        "use_sim_time": True,
    }
    assert node.kwargs["remappings"] == [
        ("rgb/image", "/cam/color/image_rect"),
        ("depth/image", "/tof/depth"),
        ("rgb/camera_info", "/cam/color/camera_info"),
        ("depth/camera_info", "/tof/camera_info"),
    ]
    assert (rviz.kwargs["package"], rviz.kwargs["executable"], rviz.kwargs["namespace"]) == ("rviz2", "rviz2", "front")
    assert rviz.kwargs["arguments"] == ["-d", str(ROOT / "config" / "stdnet.rviz"), "-f", "base_link"]
    assert rviz.kwargs["remappings"] == [("rgb/image", "/cam/color/image_rect")]


def test_the_node_accepts_what_the_launch_file_hands_it(launch_file, monkeypatch):
    _, (node_action,) = launch(launch_file, mode="bidirectional", scale="16", device="cpu")
    params_file, overrides = node_action.kwargs["parameters"]
    cli = ["--ros-args", "--params-file", params_file]
    for name, value in overrides.items():
        cli += ["-p", f"{name}:={str(value).lower() if isinstance(value, bool) else value}"]
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=free_domain())
    try:
        node = StdnetNode(context=context, cli_args=cli + ["-p", "autostart:=false"])
        values = parameters.read(node)
        assert (values["mode"], values["scale"], values["device"], values["weights"]) == (
            "bidirectional",
            16,
            "cpu",
            "stdnet-lite",
        )
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_rviz_config_shows_the_cloud_the_output_depth_and_the_input_rgb():
    config = yaml.safe_load((ROOT / "config" / "stdnet.rviz").read_text())
    displays = {d["Class"]: d for d in config["Visualization Manager"]["Displays"]}
    shown = [
        (d["Class"].split("/")[1], d["Topic"]["Value"], d["Topic"]["Reliability Policy"])
        for d in config["Visualization Manager"]["Displays"]
        if "Topic" in d
    ]
    assert shown == [
        ("PointCloud2", "depth_sr/points", "Reliable"),
        ("Image", "depth_sr/image", "Reliable"),
        ("Image", "rgb/image", "Best Effort"),
    ]
    assert displays["rviz_default_plugins/PointCloud2"]["Color Transformer"] == "RGB8"
