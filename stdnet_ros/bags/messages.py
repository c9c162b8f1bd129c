"""rclpy message classes by ROS type name, CDR (de)serialisation and stamps (integer nanoseconds)."""

import importlib

from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header

from stdnet_ros.bags.typestore import STATUS_TYPE
from stdnet_ros.ros import load_interfaces


def message_class(msgtype: str):
    """The rclpy class of ``pkg/msg/Name``; ImportError (or AttributeError) when the package is not importable."""
    package, kind, name = msgtype.split("/")
    if msgtype == STATUS_TYPE:
        load_interfaces()
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def stamp_ns(stamp) -> int:
    """Nanoseconds of a builtin_interfaces/Time."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def header(time_ns: int, frame_id: str) -> Header:
    """std_msgs/Header with stamp ``time_ns`` (nanoseconds)."""
    return Header(stamp=Time(sec=time_ns // 1_000_000_000, nanosec=time_ns % 1_000_000_000), frame_id=frame_id)


__all__ = ["deserialize_message", "header", "message_class", "serialize_message", "stamp_ns"]
