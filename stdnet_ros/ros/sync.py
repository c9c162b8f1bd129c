"""Input synchronisation for the node: the real ``message_filters`` when importable, else our stand-in.

The node feeds each input message to :meth:`InputSync.push`, either from rclpy subscriptions it creates
itself or through :data:`Subscriber` (``message_filters.Subscriber`` or the stand-in, same constructor):
``Subscriber(node, Image, topic, qos_profile=qos).registerCallback(sync.push, 0)``. The synchronizer (exact
or approximate: depth_image_proc's ``exact_sync`` / ``queue_size`` parameters plus ``slop``) calls back once
per matched set.
"""

import threading

from stdnet_ros.ros.message_filters_compat import SimpleFilter

try:
    import message_filters as _mf

    USING_UPSTREAM = True
except ImportError:
    from stdnet_ros.ros import message_filters_compat as _mf

    USING_UPSTREAM = False

Subscriber = _mf.Subscriber  # rclpy subscription as a filter source (same constructor either way)


class InputSync:
    """Synchronizes ``n_inputs`` message streams by ``header.stamp`` and counts what it discards.

    ``callback(msg_0, ..., msg_{n-1})`` runs inside :meth:`push` (under the synchronizer's lock) with one
    message per input, in input order. Keep it short (hand the set to a worker queue): every input blocks
    while it runs, and it must not push into this InputSync (the lock is not reentrant).

    :param queue_size: messages kept per input while waiting for partners.
    :param slop: approximate sync: max stamp spread of a set in seconds (strictly less); ignored if exact.
    :param exact_sync: True: TimeSynchronizer (identical stamps); False: ApproximateTimeSynchronizer.
    """

    def __init__(self, n_inputs: int, callback, *, queue_size: int, slop: float, exact_sync: bool):
        if n_inputs < 2:
            raise ValueError(f"n_inputs: {n_inputs} < 2 (nothing to synchronize)")
        if queue_size < 1:
            raise ValueError(f"queue_size: {queue_size} < 1")
        if not exact_sync and slop <= 0:
            raise ValueError(f"slop: {slop} s must be > 0 for approximate sync (0 never matches)")
        self.inputs = [SimpleFilter() for _ in range(n_inputs)]
        if exact_sync:
            self.sync = _mf.TimeSynchronizer(self.inputs, queue_size)
        else:
            self.sync = _mf.ApproximateTimeSynchronizer(self.inputs, queue_size=queue_size, slop=slop)
        self.sync.registerCallback(self._on_set)
        self._callback = callback
        self._count_lock = threading.Lock()
        self.received = 0
        self.matched = 0

    def push(self, msg, index: int) -> None:
        """Feed one message of input ``index`` (argument order fits ``registerCallback(sync.push, index)``)."""
        with self._count_lock:
            self.received += 1
        self.inputs[index].signalMessage(msg)

    def _on_set(self, *msgs) -> None:
        self._callback(*msgs)
        with self._count_lock:
            self.matched += 1

    @property
    def pending(self) -> int:
        """Messages currently held in the synchronizer's per-input queues."""
        return sum(len(q) for q in self.sync.queues)

    @property
    def dropped(self) -> int:
        """Messages discarded without a synchronized partner: received - n_inputs * matched - pending.

        Covers queue overflow, same-stamp replacement, the exact policy's purge of older stamps and headerless
        messages. Read it between pushes or from the callback (during a callback the set being delivered still
        counts as pending and is not yet matched, so the value is the count before that arrival).
        """
        with self._count_lock:
            return self.received - len(self.inputs) * self.matched - self.pending
