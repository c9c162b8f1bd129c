"""``stdnet diagnose``: why the temporal passes of a model help or do not, on sequences with exact flow
(stdnet_ros/evaluation/temporal_diagnosis.py): first-pass alignment against the true motion, how far each pass
moves its input, and the temporal gain over the single frame per noise level, dToF bin width and camera speed.

    stdnet diagnose --data ROOT [ROOT ...] [--weights FILE] [--scale 4] [--frames 12] [--json OUT]

Without --weights: the shipped causal weights of stdnet-lite at --scale. Runs on the CPU, fp32.
"""

import argparse
import json
import sys
from pathlib import Path

from .numbers import positive_int, scale


def frames(text: str) -> int:
    """At least 2: the alignment needs a frame and its neighbour."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text}")
    return value


# (label, degradation spec, frame stride): the indoor sensor with more noise, coarser bins, a faster camera
CONDITIONS = (
    ("indoor", "indoor", 1),
    ("indoor noise 0.01", "dtof:range_m=15,bins=1501,photons=1000,dropout=0.01,noise=0.01", 1),
    ("indoor noise 0.02", "dtof:range_m=15,bins=1501,photons=1000,dropout=0.01,noise=0.02", 1),
    ("indoor noise 0.04", "dtof:range_m=15,bins=1501,photons=1000,dropout=0.01,noise=0.04", 1),
    ("bins 1 cm, no noise", "dtof:range_m=15,bins=1501", 1),
    ("bins 5 cm, no noise", "dtof:range_m=15,bins=301", 1),
    ("bins 10 cm, no noise", "dtof:range_m=15,bins=151", 1),
    ("indoor, camera x2", "indoor", 2),
    ("indoor, camera x4", "indoor", 4),
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "diagnose", help="why the temporal passes help or not (alignment, passes, gain)", description=__doc__
    )
    p.add_argument("--data", nargs="+", required=True, metavar="ROOT", help="sequence folders with flow/")
    p.add_argument("--weights", help="STDNet weights (.safetensors); default: the shipped causal file")
    p.add_argument("--scale", type=scale, default=4, help="super-resolution factor (4, 8, 16)")
    p.add_argument("--frames", type=frames, default=12, help="frames per sequence and condition (>= 2)")
    p.add_argument("--json", type=Path, help="write the report here as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..data import DatasetError, find_sequences, open_sequence
    from ..evaluation.runner import dataset_sequence, parse_degradation
    from ..evaluation.temporal_diagnosis import alignment_errors, clip_tensors, pass_changes, temporal_gain
    from ..model import WeightsError, load_weights
    from ..shipped import shipped_weights_path

    try:
        weights = Path(args.weights) if args.weights else shipped_weights_path("stdnet-lite", args.scale, "causal")
        model = load_weights(weights, "cpu", scale=args.scale).eval()
        if not model.config.passes:
            raise WeightsError(f"--weights {weights}: a model without passes has no temporal paths to diagnose")
        readers = [open_sequence(p) for root in args.data for p in find_sequences(root)]
        if not readers or any(r.flow(1) is None for r in readers):
            raise DatasetError(f"--data {args.data}: needs sequences with flow/ (stdnet generate writes it)")
        alignment, changes = [], []
        for reader in readers:
            sequence = dataset_sequence(reader, args.scale, parse_degradation("indoor"))
            rgb, lr, flows = clip_tensors(sequence, args.frames)
            alignment.append(alignment_errors(model, rgb, lr, flows))
            changes.append(pass_changes(model, rgb, lr))
        report = {
            "weights": str(weights),
            "config": model.config.to_dict(),
            "sequences": len(readers),
            "frames": args.frames,
            "alignment": {k: sum(a[k] for a in alignment) / len(alignment) for k in alignment[0]},
            "pass_relative_change": [sum(c[p] for c in changes) / len(changes) for p in range(len(changes[0]))],
            "gain": {
                label: temporal_gain(model, readers, parse_degradation(spec), stride, args.frames)
                for label, spec, stride in CONDITIONS
            },
            "threads": torch.get_num_threads(),
        }
    except (DatasetError, WeightsError, ValueError) as err:
        print(f"stdnet diagnose: error: {err}", file=sys.stderr)
        return 2
    print(markdown(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def markdown(report: dict) -> str:
    a = report["alignment"]
    lines = [
        f"weights {report['weights']} ({report['config']['directions']}, alignment {report['config']['alignment']}),"
        f" {report['sequences']} sequences x {report['frames']} frames",
        "",
        f"first pass, distance-1 neighbour (feature px): motion {a['motion_fpx']:.3f}, kernel shift "
        f"{a['kernel_shift_mean_fpx']:.3f}, shift error {a['kernel_shift_epe_fpx']:.3f}"
        + (f", flow error {a['flow_epe_fpx']:.3f}" if "flow_epe_fpx" in a else "")
        + f", correlation {a['kernel_shift_correlation']:.2f}",
        "pass relative change: " + ", ".join(f"{c:.2f}" for c in report["pass_relative_change"]),
        "",
        "| condition | RMSE streamed | RMSE single frame | gain | TEPE streamed | TEPE single frame |",
        "|---|---|---|---|---|---|",
    ]
    for label, g in report["gain"].items():
        tepe = [f"{g[k]:.2f}" if k in g else "-" for k in ("streamed_tepe_cm", "single_tepe_cm")]
        lines.append(
            f"| {label} | {g['streamed_rmse_cm']:.2f} | {g['single_rmse_cm']:.2f} | {100 * g['gain']:+.1f} % | "
            f"{tepe[0]} | {tepe[1]} |"
        )
    return "\n".join(lines)
