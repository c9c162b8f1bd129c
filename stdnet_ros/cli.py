"""The ``stdnet`` console command: one subcommand per job (demo, bench, ...).

Each command module exposes ``register(subparsers)``, which adds its parser and sets ``func``.
"""
import argparse
import importlib
import sys

COMMAND_MODULES = (
    "stdnet_ros.demo",
    "stdnet_ros.bench",
    "stdnet_ros.data_cli",
    "stdnet_ros.train_cli",
    "stdnet_ros.eval_cli",
    "stdnet_ros.export_cli",
    "stdnet_ros.bag_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stdnet", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
