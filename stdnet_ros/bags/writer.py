"""Writing rosbag2 bags (metadata version 9, sqlite3 or mcap storage) from rclpy messages or CDR bytes."""

from pathlib import Path

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

from stdnet_ros.bags import BagError
from stdnet_ros.bags.messages import serialize_message
from stdnet_ros.bags.typestore import typestore

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
_DEFAULT_TIME = QosTime(sec=0, nsec=0)


def qos(reliable: bool = True, depth: int = 10, transient_local: bool = False) -> Qos:
    """An offered QoS profile to store with a topic (players reproduce it); KEEP_LAST ``depth``."""
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=depth,
        reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
        durability=QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
        deadline=_DEFAULT_TIME,
        lifespan=_DEFAULT_TIME,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=_DEFAULT_TIME,
        avoid_ros_namespace_conventions=False,
    )


class BagWriter:
    """A new bag directory ``path``; use as a context manager, or :meth:`open` and :meth:`close` it.

    Declare each topic once with :meth:`add_topic`, then :meth:`write` rclpy messages or :meth:`write_cdr`
    serialized ones. The log time of a message is the time given (the tools pass its header stamp).
    """

    def __init__(self, path: str | Path, storage: str = "mcap"):
        if storage not in STORAGES:
            raise ValueError(f"storage: {storage!r} unsupported (expected one of {', '.join(STORAGES)})")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(
                f"{self.path}: already exists (rosbag2 writes a new directory; remove it or pick another path)"
            )
        self._writer = Writer(self.path, version=9, storage_plugin=STORAGES[storage])
        self._connections = {}

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        try:
            self._writer.open()
        except WriterError as err:
            raise BagError(f"{self.path}: cannot create the bag ({err})") from err

    def close(self) -> None:
        """Finish the bag (metadata.yaml); it is readable from here on."""
        self._writer.close()

    def add_topic(self, topic: str, msgtype: str, offered_qos: Qos | None = None) -> None:
        """Declare ``topic`` of type ``msgtype`` (e.g. ``sensor_msgs/msg/Image``), offered with ``offered_qos``."""
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, typestore=typestore(), offered_qos_profiles=[offered_qos or qos()]
        )

    def write(self, topic: str, msg, time_ns: int) -> None:
        """Serialize an rclpy message of a declared topic and store it at ``time_ns``."""
        self.write_cdr(topic, serialize_message(msg), time_ns)

    def write_cdr(self, topic: str, data: bytes, time_ns: int) -> None:
        self._writer.write(self._connections[topic], time_ns, data)
