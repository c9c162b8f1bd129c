"""Reading rosbag2 bags (a bag directory, or a single .mcap / .db3 file) as rclpy messages or CDR bytes."""

from pathlib import Path

from rosbags.rosbag2 import Reader

from stdnet_ros.bags import BagError
from stdnet_ros.bags.messages import deserialize_message, message_class


class BagReader:
    """An open bag; use as a context manager. Every error is a :class:`BagError` naming the bag."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except Exception as err:  # rosbags raises FileNotFoundError, ReaderError, sqlite3 and YAML errors
            raise BagError(f"{self.path}: not a readable rosbag2 bag ({err})") from err
        self._connections = {c.topic: c for c in self._reader.connections}
        self._classes = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._reader.close()

    @property
    def topics(self) -> dict[str, str]:
        """Topic -> message type name (``sensor_msgs/msg/Image``) of every topic in the bag."""
        return {topic: c.msgtype for topic, c in self._connections.items()}

    def count(self, topic: str) -> int:
        return self._connections[topic].msgcount

    def offered_qos(self, topic: str) -> list:
        """The rosbags ``Qos`` profiles the topic was recorded with (may be empty)."""
        return list(self._connections[topic].ext.offered_qos_profiles)

    @property
    def duration_ns(self) -> int:
        return self._reader.duration

    def require(self, topic: str, msgtype: str, role: str) -> None:
        """Fail unless ``topic`` is in the bag with type ``msgtype``; ``role`` (e.g. "RGB image") goes in the error."""
        if topic not in self._connections:
            raise BagError(
                f"{self.path}: no topic {topic} (the {role}); the bag has "
                f"{', '.join(sorted(self._connections)) or 'no topics'}"
            )
        if self._connections[topic].msgtype != msgtype:
            raise BagError(
                f"{self.path}: topic {topic} (the {role}) is {self._connections[topic].msgtype}, expected {msgtype}"
            )

    def topics_of_type(self, msgtype: str) -> list[str]:
        return sorted(topic for topic, c in self._connections.items() if c.msgtype == msgtype)

    def cdr_messages(self, topics=None):
        """(topic, log time ns, CDR bytes) in log-time order, of ``topics`` (all when None)."""
        connections = [self._connections[t] for t in topics] if topics is not None else []
        for connection, time_ns, data in self._reader.messages(connections):
            yield connection.topic, time_ns, data

    def messages(self, topics=None):
        """(topic, log time ns, rclpy message) in log-time order, of ``topics`` (all when None)."""
        for topic, time_ns, data in self.cdr_messages(topics):
            yield topic, time_ns, deserialize_message(bytes(data), self.message_class(topic))

    def message_class(self, topic: str):
        """The rclpy class of a topic's type; BagError when that package is not importable here."""
        if topic not in self._classes:
            msgtype = self._connections[topic].msgtype
            try:
                self._classes[topic] = message_class(msgtype)
            except (ImportError, AttributeError, ValueError) as err:
                raise BagError(
                    f"{self.path}: topic {topic} has type {msgtype}, which is not available here ({err})"
                ) from err
        return self._classes[topic]
