"""Launch stdnet_node (and, with rviz:=true, RViz on its outputs).

  ros2 launch stdnet_ros stdnet.launch.py rgb_topic:=/camera/color/image_rect \
      depth_topic:=/tof/depth/image_raw depth_info_topic:=/tof/depth/camera_info scale:=4 rviz:=true

mode, scale, weights and device override params_file only when given. When neither Fast DDS profile
variable is set, the node gets config/fastdds.xml (a 64 MiB shared-memory segment: best-effort messages larger
than 0.5 MB, i.e. every HR depth image and cloud, are otherwise lost between processes).
"""

import os
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = "stdnet_ros"
MODEL_ARGUMENTS = ("mode", "scale", "weights", "device")
TOPIC_ARGUMENTS = {  # launch argument -> the node's (relative) topic it remaps
    "rgb_topic": "rgb/image",
    "depth_topic": "depth/image",
    "rgb_info_topic": "rgb/camera_info",
    "depth_info_topic": "depth/camera_info",
}
# Fast DDS 3 (Kilted and later) reads the first name, Fast DDS 2 (Humble, Jazzy) the second.
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")


def generate_launch_description() -> LaunchDescription:
    share = Path(get_package_share_directory(PACKAGE))
    arguments = [
        DeclareLaunchArgument(
            "params_file", default_value=str(share / "config" / "stdnet.yaml"), description="node parameters (YAML)"
        ),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node (and RViz)"),
        DeclareLaunchArgument("mode", default_value="", description="causal | bidirectional (default: params_file)"),
        DeclareLaunchArgument("scale", default_value="", description="4 | 8 | 16 (default: params_file)"),
        DeclareLaunchArgument(
            "weights", default_value="", description="weights file or shipped preset name (default: params_file)"
        ),
        DeclareLaunchArgument("device", default_value="", description="auto | cpu | cuda[:N] (default: params_file)"),
        *(
            DeclareLaunchArgument(name, default_value=topic, description=f"topic the node reads as {topic}")
            for name, topic in TOPIC_ARGUMENTS.items()
        ),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (bag replay)"),
        DeclareLaunchArgument("rviz", default_value="false", description="open RViz with config/stdnet.rviz"),
        DeclareLaunchArgument(
            "fixed_frame",
            default_value="",
            description="RViz fixed frame (default: the config's camera_color_optical_frame)",
        ),
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=launch_setup, args=[share])])


def launch_setup(context, share: Path) -> list:
    """The node (and RViz) from the launch arguments' values."""

    def value(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    overrides = {name: int(value(name)) if name == "scale" else value(name) for name in MODEL_ARGUMENTS if value(name)}
    sim_time = value("use_sim_time").lower() == "true"
    remappings = [(topic, value(name)) for name, topic in TOPIC_ARGUMENTS.items()]
    profile = str(share / "config" / "fastdds.xml")
    env = {} if any(v in os.environ for v in PROFILE_VARIABLES) else dict.fromkeys(PROFILE_VARIABLES, profile)
    actions = [
        Node(
            package=PACKAGE,
            executable="stdnet_node",
            name="stdnet_node",
            namespace=value("namespace"),
            parameters=[value("params_file"), {**overrides, "use_sim_time": sim_time}],
            remappings=remappings,
            additional_env=env,
            output="screen",
        )
    ]
    if value("rviz").lower() == "true":
        rviz_args = ["-d", str(share / "config" / "stdnet.rviz")]
        if value("fixed_frame"):
            rviz_args += ["-f", value("fixed_frame")]
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                namespace=value("namespace"),
                arguments=rviz_args,
                remappings=remappings[:1],
                parameters=[{"use_sim_time": sim_time}],
                output="screen",
            )
        )
    return actions
