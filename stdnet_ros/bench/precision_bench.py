"""``stdnet bench precision``: a shipped (or given) weights file streamed over a dataset in fp32 and in bf16, in one
run: the RMSE between the two outputs, each one's RMSE against the ground truth (pooled over every valid pixel of
every frame, cm) and the median ms per push. The check behind the node's ``precision: auto``: bf16 must stay
within 1 cm RMSE of fp32."""

import statistics
import time

import numpy as np

from ..data import find_sequences, open_sequence
from ..depth.degradation import SENSORS
from ..evaluation.runner import dataset_sequence
from ..model import load_weights
from ..shipped import shipped_weights_path
from ..streaming import StreamingEngine, resolve_device
from . import record

COMPARED = ("fp32", "bf16")  # reference first


def streamed(engine: StreamingEngine, frames) -> tuple[list[np.ndarray], list[float]]:
    """(H, W) metres outputs in frame order and the seconds of each push."""
    outputs, seconds = [], []
    for frame in frames:
        start = time.perf_counter()
        outputs += [depth for _, depth in engine.push(frame.rgb, frame.lr_m, frame.stamp)]
        seconds.append(time.perf_counter() - start)
    return outputs + [depth for _, depth in engine.flush()], seconds


def run(args) -> int:
    device = resolve_device(args.device)
    weights = args.weights or shipped_weights_path(args.preset, args.scale, args.mode)
    model = load_weights(weights, device, scale=args.scale, directions=args.mode)
    squares = {"fp32_vs_bf16": [0.0, 0], "fp32": [0.0, 0], "bf16": [0.0, 0]}
    seconds = {p: [] for p in COMPARED}
    max_diff_m = 0.0
    for path in (p for root in args.data for p in find_sequences(root)):
        frames = list(dataset_sequence(open_sequence(path), args.scale, SENSORS[args.lr], str(path)).frames)
        outputs = {}
        for precision in COMPARED:
            outputs[precision], pushes = streamed(StreamingEngine(model, device, precision), frames)
            seconds[precision] += pushes[1:]  # the first push of a sequence warms the engine up
        for frame, a, b in zip(frames, outputs["fp32"], outputs["bf16"]):
            both = np.isfinite(a) & np.isfinite(b) & (frame.gt_m > 0)
            for key, error in (("fp32_vs_bf16", b - a), ("fp32", a - frame.gt_m), ("bf16", b - frame.gt_m)):
                squares[key][0] += float(np.square(error[both]).sum())
                squares[key][1] += int(both.sum())
            max_diff_m = max(max_diff_m, float(np.abs(b - a)[both].max(initial=0.0)))
    rmse_cm = {key: 100 * (total / max(count, 1)) ** 0.5 for key, (total, count) in squares.items()}
    ms = {p: 1000 * statistics.median(s) for p, s in seconds.items()}
    print(
        f"{weights}: bf16 vs fp32 output RMSE {rmse_cm['fp32_vs_bf16']:.3f} cm (max {100 * max_diff_m:.2f} cm); "
        f"against GT fp32 {rmse_cm['fp32']:.3f}, bf16 {rmse_cm['bf16']:.3f} cm; ms per push fp32 {ms['fp32']:.1f}, "
        f"bf16 {ms['bf16']:.1f} ({ms['bf16'] / ms['fp32']:.2f}x)"
    )
    path = record.write(
        "precision",
        device,
        {
            "weights": str(weights),
            "scale": args.scale,
            "mode": args.mode,
            "lr": args.lr,
            "data": [str(d) for d in args.data],
            "rmse_cm": rmse_cm,
            "max_abs_diff_cm": 100 * max_diff_m,
            "ms_per_push_median": ms,
            "bf16_over_fp32": ms["bf16"] / ms["fp32"],
        },
        args.out,
    )
    print(f"wrote {path}")
    return 0
