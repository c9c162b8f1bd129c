"""``stdnet bench <target>``: benchmarks (never tests). Each writes JSON under bench/results/ with the machine and
the commit it measured (stdnet_ros.bench)."""

import argparse
from pathlib import Path

from ..bench import record
from ..depth.degradation import SENSORS
from ..model.config import DIRECTION_PATTERNS, preset_config
from ..pipeline import MODES
from ..streaming import PRECISIONS
from . import deferred
from .numbers import check_more, check_size, non_negative_float, positive_float, positive_int, scale

RATES_HZ = (5, 10, 30)  # input rates of stdnet bench latency
MIN_SOAK_MINUTES = 2.0  # the soak's memory base is its second minute


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="run a benchmark and write JSON under bench/results/")
    targets = parser.add_subparsers(dest="target", required=True)
    for name, (help_text, add_options) in TARGETS.items():
        p = targets.add_parser(name, help=help_text)
        add_options(p)
        p.add_argument("--device", default="auto")
        p.add_argument("--out", type=Path, default=record.RESULTS_DIR)
        p.set_defaults(func=deferred(f"stdnet_ros.bench.{name}_bench"))


def _image(p, width: int, height: int) -> None:
    """The HR (output) size and the scale of a target's input frames."""
    p.add_argument("--width", type=positive_int, default=width, help="HR output width (pixels), a multiple of --scale")
    p.add_argument(
        "--height", type=positive_int, default=height, help="HR output height (pixels), a multiple of --scale"
    )
    p.add_argument("--scale", type=scale, default=4)
    p.set_defaults(check=check_size)


def _model(p) -> None:
    p.add_argument("--preset", default="stdnet-lite")
    _image(p, 320, 240)
    p.add_argument(
        "--frames",
        type=positive_int,
        default=200,
        help="length of the streamed sequence (more than the warm-up: delay + 2 x passes)",
    )
    p.add_argument("--offline-frames", type=positive_int, default=16, help="clip length of the offline forward")
    _precisions(p)
    p.set_defaults(check=_check_model)


def _check_model(args) -> None:
    """Sizes are multiples of the scale, and the streamed frames outlast the warm-up of both modes."""
    check_size(args)
    configs = [preset_config(args.preset, scale=args.scale, directions=d) for d in DIRECTION_PATTERNS]
    warm_up = max(c.future_frames + 2 * len(c.passes) for c in configs)
    check_more(args, "frames", warm_up, f"the warm-up of {args.preset}: delay + 2 x passes, untimed")


def _precisions(p) -> None:
    p.add_argument(
        "--precisions",
        nargs="+",
        choices=list(PRECISIONS),
        default=["fp32", "bf16"],
        help="precisions of the grid-sample deformable conv (torchvision's runs fp32, the reference)",
    )


def _latency(p) -> None:
    p.add_argument("--preset", default="stdnet-lite")
    _image(p, 320, 240)
    p.add_argument("--seconds", type=positive_float, default=20.0, help="input duration of each (mode, rate) run")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--rates", nargs="+", type=positive_float, default=list(RATES_HZ), metavar="HZ")
    p.add_argument(
        "--soak-minutes",
        type=non_negative_float,
        default=0.0,
        help=f"also run a 30 Hz soak of this many minutes (0: none, else at least {MIN_SOAK_MINUTES:g}: "
        "memory growth is measured from the second minute on)",
    )
    p.set_defaults(check=_check_latency)


def _check_latency(args) -> None:
    check_size(args)
    if 0 < args.soak_minutes < MIN_SOAK_MINUTES:
        raise argparse.ArgumentTypeError(
            f"--soak-minutes: expected 0 or at least {MIN_SOAK_MINUTES:g}, got {args.soak_minutes:g}"
        )


def _profile(p) -> None:
    p.add_argument("--preset", default="stdnet-lite")
    p.add_argument("--directions", default="causal", choices=("causal", "bidirectional"))
    _image(p, 640, 480)
    p.add_argument("--steps", type=positive_int, default=5, help="profiled steady-state pushes")
    p.add_argument("--precision", default="fp32")


def _node(p) -> None:
    _image(p, 640, 480)
    p.add_argument("--frames", type=positive_int, default=200, help="timed frames per cloud setting")


def _train(p) -> None:
    p.add_argument("--preset", default="stdnet-lite")
    p.add_argument("--directions", default="causal", choices=("causal", "bidirectional"))
    p.add_argument("--batch", type=positive_int, default=2, help="clips per step")
    p.add_argument("--frames", type=positive_int, default=4, help="clip length")
    p.add_argument("--patch", type=positive_int, default=96, help="HR patch side in pixels, a multiple of 4 x --scale")
    p.add_argument("--scale", type=scale, default=4)
    p.add_argument("--steps", type=positive_int, default=5, help="timed steps per variant (after 2 warm-up steps)")
    _precisions(p)
    p.set_defaults(check=_check_train)


def _check_train(args) -> None:
    if args.patch % (4 * args.scale):
        raise argparse.ArgumentTypeError(
            f"--patch: expected a multiple of 4 x --scale = {4 * args.scale} (the LR "
            f"patch is patch / scale, the features HR / 4), got {args.patch}"
        )


def _precision(p) -> None:
    p.add_argument("--data", nargs="+", required=True, metavar="ROOT", help="sequence folders or folders of them")
    p.add_argument("--scale", type=scale, default=4)
    p.add_argument("--mode", default="causal", choices=MODES)
    p.add_argument("--preset", default="stdnet-lite", help="shipped weights to use when --weights is not given")
    p.add_argument("--weights", type=Path, default=None, help="a .safetensors file instead of the shipped one")
    p.add_argument("--lr", default="indoor", choices=sorted(SENSORS), help="the named sensor that simulates the LR")


def _base(p) -> None:
    p.add_argument("--width", type=positive_int, default=320, help="HR width (pixels)")
    p.add_argument("--height", type=positive_int, default=240, help="HR height (pixels)")
    p.add_argument("--batch", type=positive_int, default=1, help="frames per call")
    p.add_argument("--repeats", type=positive_int, default=10, help="timed calls of each implementation")


# target -> (help, its own options); each runs stdnet_ros.bench.<target>_bench.run
TARGETS = {
    "model": ("offline vs streaming per-frame ms and streaming memory, per deform conv and precision", _model),
    "latency": ("node latency (p50/p95/max), drops at 5/10/30 Hz; optional memory soak", _latency),
    "profile": ("operator profile of the steady-state streaming step", _profile),
    "node": ("node overhead per frame, all but the model (end to end: stdnet bench latency)", _node),
    "train": ("ms per training step: torchvision deformable conv (fp32) vs grid-sample at each precision", _train),
    "base": ("joint-bilateral residual base: the half-window form vs the tap-by-tap reference, as a ratio", _base),
    "precision": ("bf16 vs fp32 streaming on a dataset: output difference, RMSE against GT, ms per push", _precision),
}
