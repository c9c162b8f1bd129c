"""``stdnet bench <target>``: benchmarks (never tests). Each writes JSON under bench/results/ with the machine and
the commit it measured."""
import importlib

TARGET_MODULES = {
    "model": "stdnet_ros.bench.model_bench",
    "latency": "stdnet_ros.bench.latency_bench",
    "profile": "stdnet_ros.bench.profile_bench",
    "node": "stdnet_ros.bench.node_bench",
    "train": "stdnet_ros.bench.train_bench",
}


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="run a benchmark and write JSON under bench/results/")
    targets = parser.add_subparsers(dest="target", required=True)
    for name, module in TARGET_MODULES.items():
        importlib.import_module(module).register(targets, name)
