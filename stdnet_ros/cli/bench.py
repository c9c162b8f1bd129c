"""``stdnet bench <target>``: benchmarks (never tests). Each writes JSON under bench/results/ with the machine and
the commit it measured (stdnet_ros.bench)."""
from pathlib import Path

from ..bench import record
from ..pipeline import MODES
from . import deferred

RATES_HZ = (5, 10, 30)  # input rates of stdnet bench latency


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="run a benchmark and write JSON under bench/results/")
    targets = parser.add_subparsers(dest="target", required=True)
    for name, add in (("model", _model), ("latency", _latency), ("profile", _profile), ("node", _node),
                      ("train", _train)):
        add(targets, name)


def _model(targets, name: str) -> None:
    p = targets.add_parser(name, help="offline vs streaming per-frame ms and streaming memory")
    p.add_argument("--preset", default="stdnet-lite")
    p.add_argument("--width", type=int, default=320, help="HR output width (pixels)")
    p.add_argument("--height", type=int, default=240, help="HR output height (pixels)")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--frames", type=int, default=200, help="length of the streamed sequence")
    p.add_argument("--offline-frames", type=int, default=16, help="clip length of the offline forward")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--out", type=Path, default=record.RESULTS_DIR)
    p.set_defaults(func=deferred("stdnet_ros.bench.model_bench"))


def _latency(targets, name: str) -> None:
    p = targets.add_parser(name, help="node latency (p50/p95/max), drops at 5/10/30 Hz; optional memory soak")
    p.add_argument("--preset", default="stdnet-lite")
    p.add_argument("--width", type=int, default=320, help="RGB (output) width")
    p.add_argument("--height", type=int, default=240, help="RGB (output) height")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--device", default="auto")
    p.add_argument("--seconds", type=float, default=20.0, help="input duration of each (mode, rate) run")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--rates", nargs="+", type=float, default=list(RATES_HZ), metavar="HZ")
    p.add_argument("--soak-minutes", type=float, default=0.0, help="also run a 30 Hz soak of this many minutes")
    p.add_argument("--out", type=Path, default=record.RESULTS_DIR)
    p.set_defaults(func=deferred("stdnet_ros.bench.latency_bench"))


def _profile(targets, name: str) -> None:
    p = targets.add_parser(name, help="operator profile of the steady-state streaming step")
    p.add_argument("--preset", default="stdnet-lite")
    p.add_argument("--directions", default="causal", choices=("causal", "bidirectional"))
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--steps", type=int, default=5, help="profiled steady-state pushes")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--out", type=Path, default=record.RESULTS_DIR)
    p.set_defaults(func=deferred("stdnet_ros.bench.profile_bench"))


def _node(targets, name: str) -> None:
    p = targets.add_parser(name, help="node overhead per frame (all but the model) (stdnet bench latency: end to end)")
    p.add_argument("--width", type=int, default=640, help="HR output width (pixels)")
    p.add_argument("--height", type=int, default=480, help="HR output height (pixels)")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--frames", type=int, default=200, help="timed frames per cloud setting")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=record.RESULTS_DIR)
    p.set_defaults(func=deferred("stdnet_ros.bench.node_bench"))


def _train(targets, name: str) -> None:
    p = targets.add_parser(name, help="ms per training step, grid-sample vs torchvision deformable conv")
    p.add_argument("--preset", default="stdnet-lite")
    p.add_argument("--directions", default="causal", choices=("causal", "bidirectional"))
    p.add_argument("--batch", type=int, default=2, help="clips per step (the CPU recipe: 2)")
    p.add_argument("--frames", type=int, default=4, help="clip length (the CPU recipe: 4)")
    p.add_argument("--patch", type=int, default=96, help="HR patch side in pixels (the CPU recipe: 96)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per implementation (after 2 warm-up steps)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=record.RESULTS_DIR)
    p.set_defaults(func=deferred("stdnet_ros.bench.train_bench"))
