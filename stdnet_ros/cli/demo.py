"""``stdnet demo``: the end-to-end live chain (sample bag -> stdnet_node over DDS -> recorded bag, quality table and
latency); see :mod:`stdnet_ros.bags.demo_chain`."""

from pathlib import Path

from . import deferred
from .numbers import positive_float, positive_int, scale


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="sample bag -> stdnet_node over DDS -> recorded bag, quality table, latency")
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="folder for the bags, metrics and logs")
    p.add_argument(
        "--bag", type=Path, help="input bag with a ground truth (default: OUT/sample_bag, written if missing)"
    )
    p.add_argument("--frames", type=positive_int, default=60, help="frames of the sample bag when it is written")
    p.add_argument("--weights", default="stdnet-lite", help=".safetensors file or shipped preset name")
    p.add_argument("--mode", choices=("causal", "bidirectional"), default="causal")
    p.add_argument("--scale", type=scale, default=4)
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--rate",
        type=positive_float,
        default=0.25,
        help="replay speed (default 0.25: the 30 Hz sample at 7.5 Hz, so a CPU keeps up; 1 = recorded rate)",
    )
    p.set_defaults(func=deferred("stdnet_ros.bags.demo_chain"))
