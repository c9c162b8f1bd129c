"""``stdnet bag sample|run|play``: the rosbag2 tools (see :mod:`stdnet_ros.bags`)."""

import argparse
import functools
import sys
from pathlib import Path

from . import deferred
from .numbers import check_render_size, non_negative_float, non_negative_int, positive_float, positive_int, scale

DEFAULT_CLOCK_HZ = 40.0  # as ros2 bag play --clock


def _reporting_bag_errors(func):
    """``func(args)`` with a :class:`~stdnet_ros.bags.BagError` printed as one line (exit status 2) instead of a
    traceback."""

    @functools.wraps(func)
    def call(args):
        from stdnet_ros.bags import BagError

        try:
            return func(args)
        except BagError as err:
            print(f"stdnet bag {args.verb}: error: {err}", file=sys.stderr)
            return 2

    return call


def register(subparsers) -> None:
    parser = subparsers.add_parser("bag", help="rosbag2 tools: write a sample bag, process a bag, replay a bag")
    verbs = parser.add_subparsers(dest="verb", required=True)
    for add in (_sample, _run, _play):
        verb, module = add(verbs)
        verb.set_defaults(func=_reporting_bag_errors(deferred(module)))


def _sample(subparsers):
    p = subparsers.add_parser("sample", help="write a sample bag of a generated RGB-D clip (the demo's data)")
    p.add_argument("out", type=Path, help="bag directory to create")
    p.add_argument("--frames", type=positive_int, default=60)
    p.add_argument("--width", type=positive_int, default=320, help="RGB and ground-truth width (multiple of 16)")
    p.add_argument("--height", type=positive_int, default=240, help="RGB and ground-truth height (multiple of 16)")
    p.add_argument("--scale", type=scale, default=4, help="ToF depth is width / scale x height / scale")
    p.add_argument("--sequence", type=non_negative_int, default=0, help="index of the synthetic test sequence")
    p.set_defaults(check=check_render_size)
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    p.add_argument(
        "--compressed",
        action="store_true",
        help="RGB as <topic>/compressed JPEG and ToF depth as <topic>/compressedDepth PNG (image_transport's layouts)",
    )
    return p, "stdnet_ros.bags.sample"


def _run(subparsers):
    p = subparsers.add_parser("run", help="process a bag offline through the node's pipeline into a new bag")
    p.add_argument("bag", type=Path, help="input bag directory (or a single .mcap / .db3 file)")
    p.add_argument("--out", type=Path, required=True, help="output bag directory to create")
    p.add_argument("--rgb-topic", help="RGB Image topic (default: detected)")
    p.add_argument("--depth-topic", help="low-resolution depth Image topic (default: detected)")
    p.add_argument("--gt-topic", help="ground-truth depth Image topic at the RGB size (default: detected, if any)")
    p.add_argument("--mode", choices=("causal", "bidirectional"), default="causal")
    p.add_argument("--scale", type=scale, default=4)
    p.add_argument("--weights", default="stdnet-lite", help=".safetensors file or shipped preset name")
    p.add_argument("--device", default="auto")
    p.add_argument("--points", action="store_true", help="also write /depth_sr/points")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    p.add_argument("--eval-out", type=Path, help="metrics folder with a ground truth (default: OUT-eval)")

    return p, "stdnet_ros.bags.run"


def topic_count(text: str) -> tuple[str, int]:
    """``TOPIC=N`` (N >= 1) of ``--subscribers``."""
    topic, sep, count = text.rpartition("=")
    if not sep or not topic or not count.isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(f"expected TOPIC=N with N >= 1, got {text!r}")
    return topic, int(count)


def _play(subparsers):
    p = subparsers.add_parser("play", help="replay a bag to live topics (recorded rate, optional /clock)")
    p.add_argument("bag", type=Path, help="bag directory (or a single .mcap / .db3 file)")
    p.add_argument("--rate", type=positive_float, default=1.0, help="playback speed factor (2: twice as fast)")
    p.add_argument(
        "--clock",
        type=positive_float,
        nargs="?",
        const=DEFAULT_CLOCK_HZ,
        default=None,
        metavar="HZ",
        help=f"publish /clock for use_sim_time at HZ (default {DEFAULT_CLOCK_HZ:g}) and before each message",
    )
    p.add_argument("--loop", action="store_true", help="start again at the end, until interrupted")
    p.add_argument("--topics", nargs="+", metavar="TOPIC", help="play only these topics (default: all)")
    p.add_argument(
        "--wait-for-subscribers",
        type=non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="first wait until every played topic has its subscribers matched (error after SECONDS)",
    )
    p.add_argument(
        "--subscribers",
        type=topic_count,
        action="append",
        default=[],
        metavar="TOPIC=N",
        help="with --wait-for-subscribers: wait for at least N matched subscriptions on TOPIC (default 1; "
        "repeatable), for readers the ROS graph may not show yet",
    )

    return p, "stdnet_ros.bags.play"
