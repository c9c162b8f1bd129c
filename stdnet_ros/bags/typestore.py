"""The rosbags type store of the bag tools: ROS 2 Kilted's standard messages plus our SuperResolutionStatus.

The custom type is registered from msg/msg/SuperResolutionStatus.msg, the same file colcon builds the rclpy
type from, so the definition and RIHS01 hash stored in a bag equal the generated ones.
"""

from functools import lru_cache
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore

STATUS_TYPE = "stdnet_ros_interfaces/msg/SuperResolutionStatus"
STATUS_MSG_FILE = Path(__file__).resolve().parents[2] / "msg" / "msg" / "SuperResolutionStatus.msg"


@lru_cache(maxsize=1)
def typestore():
    """Kilted type store with ``STATUS_TYPE`` registered (one shared instance; do not register more types)."""
    store = get_typestore(Stores.ROS2_KILTED)
    store.register(get_types_from_msg(STATUS_MSG_FILE.read_text(), STATUS_TYPE))
    return store


def msg_class(msgtype: str):
    """The rosbags dataclass of a message type name such as ``sensor_msgs/msg/Image``."""
    return typestore().types[msgtype]
