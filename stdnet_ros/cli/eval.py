"""``stdnet eval``: score STDNet (through the streaming engines, as the node runs it) and the classical baselines
on dataset folders; writes metrics.json, metrics.md and figures/ to --out (see stdnet_ros/evaluation/runner.py).

    stdnet eval --data ROOT [ROOT ...] --scale 4 --out DIR [--methods m1,m2] [--weights F ...] [--lr auto|SPEC]

A ROOT is a sequence folder or a folder of them (the project layout or TarTanAir). --lr auto (default): LR from
lr_x{s}/ when present, else simulated by the indoor robot sensor (1 cm dToF bins, shot noise, 1 % dropouts);
--lr indoor or --lr dvsr (the paper's protocol, 9.8 cm bins) simulates a named sensor (stdnet_ros/depth/
degradation.py), --lr SPEC any degradation, e.g. "area:noise=0.02,dropout=0.05" or
"dtof:range_m=40,bins=512,photons=200". Without --weights, STDNet methods use the shipped weights of --preset for
the scale and mode.
"""

import argparse
import sys
from pathlib import Path

from ..data import DatasetError, find_sequences, open_sequence
from ..evaluation.runner import (
    DEFAULT_METHODS,
    METHODS,
    STDNET_METHODS,
    BaselineMethod,
    EngineMethod,
    SingleFrameMethod,
    dataset_sequence,
    evaluate,
    markdown_table,
    parse_degradation,
)
from ..model import WeightsError, load_weights
from ..model.weights import read_metadata
from ..shipped import MODES, shipped_weights_path
from ..streaming import PRECISION_CHOICES, StreamingEngine, resolve_device, resolve_precision
from .numbers import scale


class UsageError(ValueError):
    """A bad command-line value."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="score STDNet and the baselines on dataset folders", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--data", nargs="+", required=True, metavar="ROOT", help="sequence folders or folders of them")
    p.add_argument("--scale", type=scale, required=True, help="super-resolution factor (4, 8, 16)")
    p.add_argument("--out", type=Path, required=True, help="output folder for metrics.json, metrics.md, figures/")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS), help=f"comma-separated, from {', '.join(METHODS)}")
    p.add_argument(
        "--weights",
        nargs="+",
        default=[],
        metavar="FILE",
        help="STDNet weights (.safetensors); each file's mode picks stdnet-causal or stdnet-bidirectional",
    )
    p.add_argument("--preset", default="stdnet-lite", help="shipped weights to use when --weights is not given")
    p.add_argument("--lr", default="auto", help="auto, a sensor (indoor, dvsr) or a degradation SPEC (see above)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    p.add_argument(
        "--precision",
        default="auto",
        choices=PRECISION_CHOICES,
        help="STDNet engine precision, auto as the node (the model card's tables: fp32)",
    )
    p.set_defaults(func=run)


def parse_methods(text: str) -> list[str]:
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise UsageError(f"--methods: unknown {unknown or text!r}; choose from {', '.join(METHODS)}")
    return list(dict.fromkeys(methods))


def stdnet_weights(methods: list[str], files: list[str], preset: str, scale: int) -> dict[str, Path]:
    """The weights file of each selected STDNet method: from --weights by their mode (a causal file also serves
    stdnet-single-frame), else the shipped file."""
    chosen = {}
    for file in files:
        config, _ = read_metadata(file)
        served = [m for m in methods if STDNET_METHODS.get(m) == config.directions]
        if not served:
            users = ", ".join(m for m, d in STDNET_METHODS.items() if d == config.directions)
            raise UsageError(f"--weights {file}: a {config.directions} model, but none of {users} is in --methods")
        for method in served:
            if method in chosen:
                raise UsageError(f"--weights: two {config.directions} models ({chosen[method]} and {file})")
            chosen[method] = Path(file)
    for method in methods:
        if method in STDNET_METHODS and method not in chosen:
            if STDNET_METHODS[method] not in MODES:
                raise UsageError(f"--methods {method}: needs --weights FILE of a {STDNET_METHODS[method]} model")
            path = shipped_weights_path(preset, scale, STDNET_METHODS[method])
            if not path.is_file():
                raise WeightsError(
                    f"shipped weights {path}: missing; train them (stdnet train --config "
                    f"configs/train/{path.stem}.yaml --weights-out shipped) or pass --weights FILE"
                )
            chosen[method] = path
    return chosen


def named_readers(roots: list[str]) -> list[tuple[str, object]]:
    """(name, reader) of every sequence under the roots; a name is the path from the root's parent."""
    out = []
    for root in roots:
        base = Path(root).resolve().parent
        for path in find_sequences(root):
            out.append((path.resolve().relative_to(base).as_posix(), open_sequence(path)))
    return out


def run(args: argparse.Namespace) -> int:
    try:
        methods = parse_methods(args.methods)
        try:
            degradation = parse_degradation(args.lr)
        except ValueError as err:
            raise UsageError(str(err)) from err
        readers = named_readers(args.data)
        weights = stdnet_weights(methods, args.weights, args.preset, args.scale)
        device = resolve_device(args.device)
        runners = {}
        for method in methods:
            if method in STDNET_METHODS:
                model = load_weights(weights[method], device, scale=args.scale, directions=STDNET_METHODS[method])
                kind = SingleFrameMethod if method == "stdnet-single-frame" else EngineMethod
                runners[method] = kind(StreamingEngine(model, device, args.precision))
            else:
                runners[method] = BaselineMethod(method, args.scale)
        sequences = (dataset_sequence(reader, args.scale, degradation, name) for name, reader in readers)
        info = {
            "lr": args.lr,
            "weights": {m: str(p) for m, p in weights.items()},
            "device": str(device),
            "precision": resolve_precision(args.precision, device),
        }
        report = evaluate(sequences, runners, args.scale, args.out, info)
    except (UsageError, DatasetError, WeightsError) as err:
        print(f"stdnet eval: error: {err}", file=sys.stderr)
        return 2
    print(markdown_table(report).split("\n## ")[0].rstrip())
    print(f"\nwritten: {args.out / 'metrics.json'}, {args.out / 'metrics.md'}, {args.out / 'figures'}/")
    return 0
