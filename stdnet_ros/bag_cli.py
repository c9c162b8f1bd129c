"""``stdnet bag sample|run|play``: the rosbag2 tools (see :mod:`stdnet_ros.bags`)."""
import functools
import importlib
import sys

from stdnet_ros.bags import BagError

VERB_MODULES = ("stdnet_ros.bags.sample", "stdnet_ros.bags.run", "stdnet_ros.bags.play")


def _reporting_bag_errors(func):
    """``func(args)`` with a :class:`BagError` printed as one line (exit status 2) instead of a traceback."""
    @functools.wraps(func)
    def call(args):
        try:
            return func(args)
        except BagError as err:
            print(f"stdnet bag {args.verb}: error: {err}", file=sys.stderr)
            return 2
    return call


def register(subparsers) -> None:
    parser = subparsers.add_parser("bag", help="rosbag2 tools: write a sample bag, process a bag, replay a bag")
    verbs = parser.add_subparsers(dest="verb", required=True)
    for name in VERB_MODULES:
        importlib.import_module(name).register(verbs)
    for verb in verbs.choices.values():
        verb.set_defaults(func=_reporting_bag_errors(verb.get_default("func")))
