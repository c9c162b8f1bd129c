"""``stdnet export``: the causal streaming step to ONNX (opset 19, DeformConv), checked against PyTorch."""

from pathlib import Path

from ..export import export_causal_step, max_stream_difference
from ..model import WeightsError, load_weights
from ..shipped import resolve_weights
from .numbers import check_size, positive_int, scale

CHECK_FRAMES = 20
TOLERANCE_M = 1e-3


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export the causal per-frame streaming step to ONNX")
    p.add_argument("--weights", default="stdnet-lite", help="weights file, or a shipped preset name")
    p.add_argument("--scale", type=scale, default=4)
    p.add_argument("--width", type=positive_int, default=640, help="HR output width (pixels), a multiple of --scale")
    p.add_argument("--height", type=positive_int, default=480, help="HR output height (pixels), a multiple of --scale")
    p.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison over a generated stream")
    p.set_defaults(func=run, check=check_size)


def generated_frames(n: int, width: int, height: int, scale: int):
    from ..data import generate_sequence, split_seed
    from ..depth.degradation import degrade_numpy

    for frame in generate_sequence(split_seed("test", 0), n, width, height):
        yield frame.rgb, degrade_numpy(frame.depth_m, frame.rgb, scale)


def run(args) -> int:
    path = resolve_weights(args.weights, args.scale, "causal")
    try:
        model = load_weights(path, scale=args.scale, directions="causal")
    except WeightsError as exc:
        print(f"error: {exc}")
        return 2
    export_causal_step(model, args.out, args.height, args.width)
    print(f"wrote {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB) for {args.width}x{args.height} output")
    if args.no_check:
        return 0
    worst = max_stream_difference(model, args.out, generated_frames(CHECK_FRAMES, args.width, args.height, args.scale))
    print(f"onnxruntime vs PyTorch over {CHECK_FRAMES} generated frames: max |difference| {worst * 1000:.4f} mm")
    return 0 if worst <= TOLERANCE_M else 1
