"""The ``stdnet`` console command: one subcommand per job (demo, bench, ...).

Each command module of this package exposes ``register(subparsers)``, which adds its parser and sets ``func``:
argument parsing only. What a command runs is imported when it runs (``deferred``), so parsing imports no ROS
module and every ROS-free command works on a machine without rclpy.
"""

import argparse
import importlib

COMMAND_MODULES = (
    "stdnet_ros.cli.demo",
    "stdnet_ros.cli.bench",
    "stdnet_ros.cli.generate",
    "stdnet_ros.cli.train",
    "stdnet_ros.cli.eval",
    "stdnet_ros.cli.diagnose",
    "stdnet_ros.cli.export",
    "stdnet_ros.cli.bag",
)


def deferred(module: str, function: str = "run"):
    """A ``func`` that imports ``module`` when called and runs ``module.function(args)``."""

    def call(args):
        return getattr(importlib.import_module(module), function)(args)

    call.__qualname__ = f"{module}.{function}"
    return call


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stdnet", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check = getattr(args, "check", None)  # a command's checks across its arguments (stdnet_ros.cli.numbers)
    if check is not None:
        try:
            check(args)
        except argparse.ArgumentTypeError as err:
            command = " ".join(str(getattr(args, key)) for key in ("command", "target", "verb") if hasattr(args, key))
            parser.exit(2, f"stdnet {command}: error: {err}\n")
    return int(args.func(args) or 0)
