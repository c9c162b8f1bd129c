"""Recording live topics into a bag from rclpy subscriptions (the stand-in for ``ros2 bag record``).

Subscriptions are raw: the CDR bytes go into the bag as received, logged at the message's header stamp (so a
recording lines up with the bag it was made from; ``ros2 bag record`` would log the receive time instead).
"""

import struct
import time

from rclpy.qos import QoSProfile, ReliabilityPolicy

from stdnet_ros.bags.messages import message_class
from stdnet_ros.bags.writer import BagWriter


def header_stamp_ns(cdr: bytes) -> int:
    """Header stamp of serialized message that starts with a std_msgs/Header (int32 sec, uint32 nanosec right
    after the 4-byte CDR encapsulation header, whose second byte says the byte order)."""
    sec, nanosec = struct.unpack_from("<iI" if cdr[1] & 1 else ">iI", cdr, 4)
    return sec * 1_000_000_000 + nanosec


class Recorder:
    """Writes every message of ``topics`` ({name: type}, each type starting with a Header) into ``writer``.

    ``on_message(topic, stamp_ns, cdr, receive_time)`` is called after each write (receive_time from
    time.monotonic()); ``counts`` holds messages per topic. Reliable keep-last ``depth`` subscriptions match
    reliable and best-effort publishers alike.
    """

    def __init__(self, node, writer: BagWriter, topics: dict[str, str], on_message=None, depth: int = 10):
        self.writer = writer
        self.counts = dict.fromkeys(topics, 0)
        self._on_message = on_message
        self.subscriptions = []
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
        for topic, msgtype in topics.items():
            writer.add_topic(topic, msgtype)
            self.subscriptions.append(
                node.create_subscription(
                    message_class(msgtype), topic, lambda cdr, t=topic: self._write(t, cdr), qos, raw=True
                )
            )

    def _write(self, topic: str, cdr: bytes) -> None:
        received = time.monotonic()
        stamp = header_stamp_ns(cdr)
        self.writer.write_cdr(topic, cdr, stamp)
        self.counts[topic] += 1
        if self._on_message is not None:
            self._on_message(topic, stamp, cdr, received)

    def matched(self) -> bool:
        """Whether every recorded topic has a publisher."""
        return all(sub.get_publisher_count() > 0 for sub in self.subscriptions)
