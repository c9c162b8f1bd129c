"""message_filters semantics (ros_feasibility.md section 3.4 scenarios) for our stand-in, and for the real
package where it is installed, plus the InputSync wrapper and the Subscriber over real rclpy/DDS."""

import importlib
import random
import time

import pytest
import rclpy
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image
from std_msgs.msg import String

from stdnet_ros.ros import message_filters_compat as compat
from stdnet_ros.ros.sync import InputSync

S = 1_000_000_000  # ns per second


def implementations():
    yield pytest.param(compat, id="stand-in")
    try:
        upstream = importlib.import_module("message_filters")
    except ImportError:
        upstream = None
    yield pytest.param(
        upstream, id="upstream", marks=pytest.mark.skipif(upstream is None, reason="message_filters not installed")
    )


@pytest.fixture(params=list(implementations()))
def mf(request):
    return request.param


def msg(ns: int, tag: str = "") -> Image:
    """A real sensor_msgs/Image stamped at ns nanoseconds; frame_id carries a tag to identify it."""
    m = Image()
    m.header.stamp.sec, m.header.stamp.nanosec = divmod(ns, S)
    m.header.frame_id = tag
    return m


class Rig:
    """n inputs wired to a synchronizer; outputs recorded as tuples of (frame_id) tags or of messages."""

    def __init__(self, make_sync, n=2):
        self.inputs = [compat.SimpleFilter() for _ in range(n)]
        self.sync = make_sync(self.inputs)
        self.out = []
        self.sync.registerCallback(lambda *ms: self.out.append(ms))

    def push(self, i, m):
        self.inputs[i].signalMessage(m)

    def tags(self):
        return [tuple(m.header.frame_id for m in ms) for ms in self.out]


# ---- ApproximateTimeSynchronizer (upstream test_approxsync scenarios) ----


def test_approx_pairs_equal_stamps_queue_1(mf):
    rig = Rig(lambda fs: mf.ApproximateTimeSynchronizer(fs, 1, 0.1))
    for k in range(10):
        a, b = msg(k * S), msg(k * S)
        rig.push(0, a)
        assert len(rig.out) == k
        rig.push(1, b)
        assert rig.out[-1][0] is a and rig.out[-1][1] is b


@pytest.mark.parametrize("n", range(1, 10))
def test_approx_random_order_fills_queue(mf, n):
    rng = random.Random(n)
    rig = Rig(lambda fs: mf.ApproximateTimeSynchronizer(fs, n, 0.1))
    stamps = [k * S for k in range(n)]
    first, second = {t: msg(t) for t in stamps}, {t: msg(t) for t in stamps}
    for t in rng.sample(stamps, n):
        rig.push(0, first[t])
    assert rig.out == []
    for t in rng.sample(stamps, n):
        rig.push(1, second[t])
    assert {(id(a), id(b)) for a, b in rig.out} == {(id(first[t]), id(second[t])) for t in stamps}


def test_approx_headerless_with_allow(mf):
    n = 5
    rig = Rig(lambda fs: mf.ApproximateTimeSynchronizer(fs, n, 10.0, allow_headerless=True))
    now = time.time_ns()
    for k in range(n):
        rig.push(0, msg(now + k * S, str(k)))
        rig.push(1, String(data=str(k)))
    assert [(a.header.frame_id, b.data) for a, b in rig.out] == [(str(k), str(k)) for k in range(n)]


def test_approx_headerless_dropped_without_allow(mf):
    rig = Rig(lambda fs: mf.ApproximateTimeSynchronizer(fs, 5, 10.0))
    rig.push(0, msg(time.time_ns()))
    rig.push(1, String(data="no header"))
    assert rig.out == [] and len(rig.sync.queues[1]) == 0


def test_approx_slop_is_strict(mf):
    rig = Rig(lambda fs: mf.ApproximateTimeSynchronizer(fs, 5, 0.1))
    rig.push(0, msg(1 * S))
    rig.push(1, msg(1 * S + S // 10))  # exactly slop apart: no set
    assert rig.out == []
    rig.push(1, msg(1 * S + S // 10 - 1))  # 1 ns inside
    assert len(rig.out) == 1
    zero = Rig(lambda fs: mf.ApproximateTimeSynchronizer(fs, 5, 0.0))
    zero.push(0, msg(S))
    zero.push(1, msg(S))
    assert zero.out == []  # slop 0 never matches, even identical stamps


def test_approx_pairs_closest_and_keeps_unmatched(mf):
    ms = S // 1000
    rig = Rig(lambda fs: mf.ApproximateTimeSynchronizer(fs, 5, 0.05))
    for t in (960, 1000, 1030):
        rig.push(0, msg(t * ms, f"d{t}"))
    rig.push(1, msg(1020 * ms, "c1020"))
    assert rig.tags() == [("d1030", "c1020")]  # the closest to the new arrival, not the oldest
    rig.push(1, msg(970 * ms, "c970"))  # late arrival still pairs with the stale 0.96 (no purge)
    assert rig.tags()[-1] == ("d960", "c970")


def test_approx_three_inputs_first_ranked_tuple_under_slop(mf):
    ms = S // 1000
    rig = Rig(lambda fs: mf.ApproximateTimeSynchronizer(fs, 5, 0.05), n=3)
    rig.push(1, msg(1000 * ms, "b1000"))
    rig.push(1, msg(1040 * ms, "b1040"))
    rig.push(2, msg(1045 * ms, "c1045"))
    rig.push(0, msg(1020 * ms, "a1020"))
    # both b stamps are 20 ms from the new 1.020 s: the tie keeps arrival order, so (b1000, c1045) is tried
    # first; its spread (45 ms) is under slop, so it wins over the tighter (b1040, c1045): greedy, not optimal
    assert rig.tags() == [("a1020", "b1000", "c1045")]


# ---- TimeSynchronizer (upstream test_time_synchronizer scenarios) ----


def test_exact_queue_in_order(mf):
    n = 6
    rig = Rig(lambda fs: mf.TimeSynchronizer(fs, n))
    for k in range(n):
        rig.push(0, msg(k * S, f"x{k}"))
    for k in range(n):
        rig.push(1, msg(k * S, f"y{k}"))
    assert rig.tags() == [(f"x{k}", f"y{k}") for k in range(n)]


def test_exact_drops_older_after_a_match(mf):
    rig = Rig(lambda fs: mf.TimeSynchronizer(fs, 5))
    rig.push(0, msg(1 * S, "x0"))
    rig.push(1, msg(2 * S, "y1"))
    rig.push(0, msg(2 * S, "y0"))
    assert rig.tags() == [("y0", "y1")]
    rig.push(1, msg(1 * S, "x1"))  # x0 was purged when stamp 2 matched
    assert rig.tags() == [("y0", "y1")]


def test_exact_shifted(mf):
    rig = Rig(lambda fs: mf.TimeSynchronizer(fs, 5))
    rig.push(0, msg(1 * S, "x0"))
    rig.push(0, msg(2 * S, "y0"))
    rig.push(1, msg(1 * S, "x1"))
    assert rig.tags() == [("x0", "x1")]
    rig.push(1, msg(2 * S, "y1"))
    assert rig.tags() == [("x0", "x1"), ("y0", "y1")]


def test_exact_needs_a_header(mf):
    rig = Rig(lambda fs: mf.TimeSynchronizer(fs, 5))
    with pytest.raises((AttributeError, ValueError)):
        rig.push(0, String(data="no header"))


def test_exact_queue_overflow_evicts_oldest_stamp(mf):
    rig = Rig(lambda fs: mf.TimeSynchronizer(fs, 2))
    for k in range(3):
        rig.push(0, msg(k * S, f"x{k}"))
    assert sorted(rig.sync.queues[0]) == [1 * S, 2 * S]
    rig.push(1, msg(0, "late"))
    assert rig.out == []


# ---- SimpleFilter ----


def test_simple_filter_callbacks_in_order_with_extra_args():
    f, calls = compat.SimpleFilter(), []
    first = f.registerCallback(lambda m, tag: calls.append((tag, m)), "a")
    f.registerCallback(lambda m: calls.append(("b", m)))
    f.signalMessage(1)
    f.unregisterCallback(first)
    f.signalMessage(2)
    assert calls == [("a", 1), ("b", 1), ("b", 2)]
    assert f.registerCallback(print) != 1  # a freed id never makes a new callback replace a live one
    assert len(f.callbacks) == 2


# ---- InputSync (sync.py): exact/approx selection and drop counting ----


def test_input_sync_counts_drops_approx():
    sets = []
    sync = InputSync(
        2,
        lambda a, b: sets.append((a.header.frame_id, b.header.frame_id, sync.dropped)),
        queue_size=2,
        slop=0.05,
        exact_sync=False,
    )
    ms = S // 1000
    sync.push(msg(0, "d0"), 0)
    sync.push(msg(33 * ms, "d1"), 0)
    sync.push(msg(66 * ms, "d2"), 0)  # queue 2: d0 evicted
    assert (sync.received, sync.pending, sync.dropped) == (3, 2, 1)
    sync.push(msg(70 * ms, "c2"), 1)
    assert sets == [("d2", "c2", 1)]  # read inside the callback: count before this arrival
    assert (sync.matched, sync.pending, sync.dropped) == (1, 1, 1)
    sync.push(msg(500 * ms, "c9"), 1)  # no partner yet: pending, not dropped
    assert sync.dropped == 1


def test_input_sync_exact_purge_counts_as_drops():
    sync = InputSync(2, lambda a, b: None, queue_size=5, slop=0.0, exact_sync=True)
    sync.push(msg(1 * S), 0)
    sync.push(msg(2 * S), 0)
    sync.push(msg(2 * S), 1)
    assert (sync.matched, sync.pending, sync.dropped) == (1, 0, 1)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(n_inputs=1, queue_size=5, slop=0.1, exact_sync=False), "n_inputs"),
        (dict(n_inputs=2, queue_size=0, slop=0.1, exact_sync=False), "queue_size"),
        (dict(n_inputs=2, queue_size=5, slop=0.0, exact_sync=False), "slop"),
    ],
)
def test_input_sync_rejects_bad_options(kwargs, field):
    n = kwargs.pop("n_inputs")
    with pytest.raises(ValueError, match=field):
        InputSync(n, print, **kwargs)


# ---- Subscriber over a real rclpy subscription ----


def test_stand_in_subscriber_feeds_synchronizer_over_dds():
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=random.randint(100, 200))
    node = rclpy.create_node("mf_test", context=ctx)
    try:
        qos = QoSProfile(depth=10)
        subs = [compat.Subscriber(node, Image, f"mf_test/in{i}", qos_profile=qos) for i in range(2)]
        assert subs[0].getTopic() == "mf_test/in0" and subs[0].topic_name == "/mf_test/in0"
        got = []
        sync = InputSync(
            2,
            lambda a, b: got.append((a.header.frame_id, b.header.frame_id)),
            queue_size=5,
            slop=0.01,
            exact_sync=False,
        )
        for i, sub in enumerate(subs):
            sub.registerCallback(sync.push, i)
        pubs = [node.create_publisher(Image, f"mf_test/in{i}", qos) for i in range(2)]
        executor = rclpy.executors.SingleThreadedExecutor(context=ctx)
        executor.add_node(node)
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            for i, pub in enumerate(pubs):
                pub.publish(msg(7 * S, f"in{i}"))
            executor.spin_once(timeout_sec=0.1)
            executor.spin_once(timeout_sec=0.1)
        assert ("in0", "in1") in got
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)


@pytest.mark.parametrize("exact", [False, True], ids=["approx", "exact"])
def test_stand_in_matches_upstream_on_random_streams(exact):
    upstream = pytest.importorskip("message_filters", reason="message_filters not installed")
    rng = random.Random(7)
    ms = S // 1000
    for trial in range(200):
        n_inputs, queue_size, slop = rng.choice([2, 3]), rng.randint(1, 4), rng.choice([0.01, 0.02, 0.05])
        events = [(rng.randrange(n_inputs), rng.randrange(0, 200, 5 if exact else 1) * ms) for _ in range(30)]
        outputs = []
        for mf in (compat, upstream):
            if exact:
                rig = Rig(lambda fs, m=mf, q=queue_size: m.TimeSynchronizer(fs, q), n=n_inputs)
            else:
                rig = Rig(lambda fs, m=mf, q=queue_size, s=slop: m.ApproximateTimeSynchronizer(fs, q, s), n=n_inputs)
            for k, (i, t) in enumerate(events):
                rig.push(i, msg(t, str(k)))
            outputs.append(rig.tags())
        assert outputs[0] == outputs[1], (trial, events)
