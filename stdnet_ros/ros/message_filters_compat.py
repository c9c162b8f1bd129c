"""Clean-room stand-in for the Python ``message_filters`` package (ROS 2 Kilted semantics).

Used only where ``message_filters`` is not importable (the PyPI ROS wheels); :mod:`stdnet_ros.ros.sync`
prefers the real package. Written from the documented behaviour (ros_feasibility.md section 3), not from
the upstream source. Provided: :class:`SimpleFilter`, :class:`Subscriber`, :class:`TimeSynchronizer`,
:class:`ApproximateTimeSynchronizer`. Not provided: ``Cache``, ``Chain``, ``TimeSequencer`` and the Kilted
``queue_offset`` / ``sync_arrival_time`` options of the approximate synchronizer (the node needs none of them).

Stamps are compared as integer nanoseconds. Synchronizer callbacks run while the synchronizer's
non-reentrant lock is held, as upstream: do not feed the same synchronizer from its own callback.
"""

import itertools
import threading
import time

from rclpy.logging import get_logger
from rclpy.qos import QoSProfile


class SimpleFilter:
    """A filter stage: downstream callbacks registered here get every message passed to :meth:`signalMessage`."""

    def __init__(self):
        self.callbacks = {}

    def registerCallback(self, cb, *args) -> int:
        """Call ``cb(*msgs, *args)`` on each output; returns an id for :meth:`unregisterCallback`."""
        conn = len(self.callbacks)
        while conn in self.callbacks:  # ids freed by unregisterCallback must not collide
            conn += 1
        self.callbacks[conn] = (cb, args)
        return conn

    def unregisterCallback(self, conn: int) -> None:
        self.callbacks.pop(conn, None)

    def signalMessage(self, *msgs) -> None:
        """Push ``msgs`` to every registered callback, synchronously and in registration order."""
        for cb, args in list(self.callbacks.values()):
            cb(*(msgs + args))


class Subscriber(SimpleFilter):
    """An rclpy subscription as a filter source; same constructor as Kilted ``message_filters.Subscriber``.

    Other attributes (e.g. ``topic_name``, ``destroy``) are those of the underlying rclpy subscription.
    """

    def __init__(self, node, msg_type, topic: str, qos_profile=QoSProfile(depth=10), **kwargs):
        super().__init__()
        self.node = node
        self.topic = topic
        self.sub = node.create_subscription(msg_type, topic, self.callback, qos_profile, **kwargs)

    def callback(self, msg) -> None:
        self.signalMessage(msg)

    def getTopic(self) -> str:
        return self.topic

    def __getattr__(self, key):
        if key == "sub":  # not yet set (during __init__): avoid infinite recursion
            raise AttributeError(key)
        return getattr(self.sub, key)


def stamp_ns(stamp) -> int:
    """Integer nanoseconds of a builtin_interfaces/Time-like stamp (sec, nanosec) or an rclpy Time (nanoseconds)."""
    if hasattr(stamp, "nanoseconds"):
        return int(stamp.nanoseconds)
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class TimeSynchronizer(SimpleFilter):
    """Exact-stamp synchronizer over the filters ``fs``; the callback gets one message per input, in input order.

    Per input, up to ``queue_size`` messages are kept by stamp (a repeated stamp replaces the earlier message;
    overflow evicts the oldest stamp). After each arrival the oldest stamp present on every input is emitted
    and removed, and every older message on any input is discarded (it can no longer complete a set).
    Messages without ``header.stamp`` raise AttributeError.
    """

    def __init__(self, fs, queue_size: int):
        super().__init__()
        self.queue_size = queue_size
        self.lock = threading.Lock()
        self.queues = [{} for _ in fs]  # per input: {stamp_ns: msg}, in arrival order
        self.input_connections = [f.registerCallback(self.add, q, i) for i, (f, q) in enumerate(zip(fs, self.queues))]

    def _insert(self, msg, queue: dict, key: int) -> None:
        queue[key] = msg
        while len(queue) > self.queue_size:
            del queue[min(queue)]

    def add(self, msg, my_queue: dict, my_queue_index: int) -> None:
        key = stamp_ns(msg.header.stamp)
        with self.lock:
            self._insert(msg, my_queue, key)
            common = set(self.queues[0]).intersection(*self.queues[1:])
            if not common:
                return
            t = min(common)
            self.signalMessage(*(q[t] for q in self.queues))
            for q in self.queues:
                for old in [k for k in q if k <= t]:
                    del q[old]


class ApproximateTimeSynchronizer(TimeSynchronizer):
    """Approximate-stamp synchronizer: sets whose stamps spread by strictly less than ``slop`` seconds.

    Matching is anchored on each new arrival: for every other input the queued stamps within ``slop`` of
    the new one are ranked by distance (ties in arrival order); the first combination, in that ranking with
    the first input varying slowest, whose max - min stamp is < ``slop`` is emitted and exactly those
    messages are removed. Unmatched messages stay queued until evicted by ``queue_size``, so a late arrival
    can still pair with them. ``slop=0`` never matches. Headerless messages are dropped with a warning,
    or stamped with the current wall-clock time when ``allow_headerless`` is set.
    """

    def __init__(self, fs, queue_size: int, slop: float, *, allow_headerless: bool = False):
        super().__init__(fs, queue_size)
        self.slop_ns = int(slop * 1_000_000_000)
        self.allow_headerless = allow_headerless

    def add(self, msg, my_queue: dict, my_queue_index: int) -> None:
        stamp = getattr(getattr(msg, "header", None), "stamp", None)
        if stamp is None:
            if not self.allow_headerless:
                get_logger("message_filters_compat").warning(
                    "dropping a message without header.stamp (allow_headerless is False)"
                )
                return
            key = time.time_ns()
        else:
            key = stamp_ns(stamp)
        with self.lock:
            self._insert(msg, my_queue, key)
            candidates = []
            for i, q in enumerate(self.queues):
                if i == my_queue_index:
                    continue
                near = sorted((k for k in q if abs(k - key) <= self.slop_ns), key=lambda k: abs(k - key))
                if not near:
                    return
                candidates.append(near)
            for combo in itertools.product(*candidates):
                keys = list(combo)
                keys.insert(my_queue_index, key)
                if max(keys) - min(keys) < self.slop_ns and all(k in q for k, q in zip(keys, self.queues)):
                    self.signalMessage(*(q[k] for k, q in zip(keys, self.queues)))
                    for k, q in zip(keys, self.queues):
                        del q[k]
                    return
