"""``stdnet bag play``: replay a bag to live topics at the recorded rate, optionally publishing ``/clock``.

The stand-in for ``ros2 bag play`` where rosbag2 is not installed (on a robot ``ros2 bag play --clock`` works as
well). Each topic gets a publisher with the QoS it was recorded with (reliable keep-last 10 when the bag has
none); messages go out as the stored CDR bytes (no deserialisation) in log-time order, each at
``start + (log time - first log time) / rate`` on the monotonic clock. ``--clock HZ`` publishes
rosgraph_msgs/Clock (the playback time in the bag's timeline) at HZ and right before every message, so nodes
running with ``use_sim_time`` see each message's log time as "now" when it arrives.

Fast DDS: only the publisher's profile decides whether best-effort messages > 0.5 MB get through, so unless
FASTDDS_DEFAULT_PROFILES_FILE is already set, the player uses the package's config/fastdds.xml.
"""

import os
import signal
import time
from pathlib import Path

import rclpy
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.interfaces import QosDurability, QosHistory, QosReliability
from rosgraph_msgs.msg import Clock

from stdnet_ros.bags import BagError
from stdnet_ros.bags.reader import BagReader

FASTDDS_PROFILE = Path(__file__).resolve().parents[2] / "config" / "fastdds.xml"
SETTLE_S = 0.5  # subscribers matched this long before playing: later-discovered ones of the same graph join
LINGER_S = 1.0  # after the last message: time for reliable samples to be acknowledged before the publishers go


def rclpy_qos(profiles):
    """rclpy QoSProfile of a topic's recorded rosbags ``Qos`` profiles (the first one; reliable depth 10 if none)."""
    if not profiles:
        return QoSProfile(depth=10)
    q = profiles[0]
    keep_all = q.history == QosHistory.KEEP_ALL
    return QoSProfile(
        history=HistoryPolicy.KEEP_ALL if keep_all else HistoryPolicy.KEEP_LAST,
        depth=max(int(q.depth), 1),
        reliability=(
            ReliabilityPolicy.BEST_EFFORT if q.reliability == QosReliability.BEST_EFFORT else ReliabilityPolicy.RELIABLE
        ),
        durability=(
            DurabilityPolicy.TRANSIENT_LOCAL
            if q.durability == QosDurability.TRANSIENT_LOCAL
            else DurabilityPolicy.VOLATILE
        ),
    )


class Player:
    """Publishers for the played topics of an open bag on an rclpy ``node``; :meth:`play` replays once."""

    def __init__(self, bag: BagReader, node, topics=None, clock_hz: float | None = None):
        self.bag = bag
        self._node = node
        self.topics = list(topics) if topics else sorted(bag.topics)
        for topic in self.topics:
            if topic not in bag.topics:
                raise BagError(f"{bag.path}: no topic {topic} to play; the bag has {', '.join(sorted(bag.topics))}")
        self._publishers = {
            t: node.create_publisher(bag.message_class(t), t, rclpy_qos(bag.offered_qos(t))) for t in self.topics
        }
        self._clock_period = None if clock_hz is None else 1.0 / clock_hz
        # as rclpy's TimeSource subscribes: best effort, keep last 1 (a reliable publisher matches it)
        self._clock = (
            None
            if clock_hz is None
            else node.create_publisher(Clock, "/clock", QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
        )
        self._clock_msg = Clock()

    def wait_for_subscribers(self, timeout: float, minimum: dict[str, int] | None = None) -> None:
        """Return once every played topic's publisher has matched at least ``minimum[topic]`` subscriptions (1 for a
        topic not named there) and each one the ROS graph shows for it, for SETTLE_S in a row; BagError naming the
        topics short of it after ``timeout`` s. A caller that owns readers of its own names them in ``minimum``:
        the graph may show a participant's readers only after they would have missed the first messages."""
        minimum = minimum or {}
        for topic in minimum:
            if topic not in self._publishers:
                raise BagError(
                    f"{self.bag.path}: --subscribers names {topic}, which is not played "
                    f"(played: {', '.join(self.topics)})"
                )
        deadline = time.monotonic() + timeout
        settled_since = None
        while True:
            missing = [
                t
                for t, p in self._publishers.items()
                if p.get_subscription_count() < max(minimum.get(t, 1), self._node.count_subscribers(t))
            ]
            now = time.monotonic()
            if missing:
                settled_since = None
                if now > deadline:
                    raise BagError(
                        f"{self.bag.path}: too few subscribers on {', '.join(missing)} after {timeout:g} s "
                        f"(matched: {', '.join(f'{t} {n}' for t, n in self.matched().items())})"
                    )
            elif settled_since is None:
                settled_since = now
            elif now - settled_since >= SETTLE_S:
                return
            time.sleep(0.02)

    def matched(self) -> dict[str, int]:
        """Subscriptions matched by each played topic's publisher."""
        return {t: p.get_subscription_count() for t, p in self._publishers.items()}

    def play(self, rate: float = 1.0) -> int:
        """Publish every message of the played topics once, paced at ``rate``; returns the number published."""
        if not rate > 0:
            raise ValueError(f"rate: expected > 0, got {rate}")
        count, first_ns, start = 0, None, time.monotonic()
        for topic, time_ns, data in self.bag.cdr_messages(self.topics):
            if first_ns is None:
                first_ns = time_ns
            due = start + (time_ns - first_ns) / 1e9 / rate
            self._wait_until(due, first_ns, start, rate)
            self._publish_clock(time_ns)
            self._publishers[topic].publish(bytes(data))
            count += 1
        return count

    def linger(self) -> None:
        """Give reliable subscribers time to acknowledge the last samples."""
        for publisher in self._publishers.values():
            publisher.wait_for_all_acked(Duration(seconds=LINGER_S))

    def _wait_until(self, due: float, first_ns: int, start: float, rate: float) -> None:
        while (remaining := due - time.monotonic()) > 0:
            if self._clock is None:
                time.sleep(remaining)
                return
            time.sleep(min(remaining, self._clock_period))
            if time.monotonic() < due:
                self._publish_clock(first_ns + int((time.monotonic() - start) * rate * 1e9))

    def _publish_clock(self, time_ns: int) -> None:
        if self._clock is not None:
            self._clock_msg.clock.sec, self._clock_msg.clock.nanosec = divmod(time_ns, 1_000_000_000)
            self._clock.publish(self._clock_msg)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args) -> int:
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(FASTDDS_PROFILE))  # read when rclpy starts DDS
    signal.signal(signal.SIGTERM, _interrupt)
    with BagReader(args.bag) as bag:
        rclpy.init()
        try:
            node = rclpy.create_node("stdnet_bag_player")
            player = Player(bag, node, args.topics, args.clock)
            if args.wait_for_subscribers > 0:
                player.wait_for_subscribers(args.wait_for_subscribers, dict(args.subscribers))
            print("subscribers matched: " + ", ".join(f"{t} {n}" for t, n in player.matched().items()), flush=True)
            print(
                f"playing {args.bag}: {', '.join(player.topics)} at rate {args.rate:g}"
                + (f", /clock at {args.clock:g} Hz" if args.clock else ""),
                flush=True,
            )
            while True:
                start = time.monotonic()
                count = player.play(args.rate)
                print(
                    f"played {count} messages in {time.monotonic() - start:.2f} s "
                    f"(recorded {bag.duration_ns / 1e9:.2f} s)",
                    flush=True,
                )
                if not args.loop:
                    break
            player.linger()
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            rclpy.try_shutdown()
    return 0
