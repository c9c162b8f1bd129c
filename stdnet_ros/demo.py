"""``stdnet demo``: both streaming engines over a short generated clip on this machine, with per-frame latency
and how far the causal and the delayed bidirectional outputs differ."""
import time

import numpy as np
import torch

from .data import generate_sequence, split_seed
from .degradation import degrade_numpy
from .model import build_model
from .streaming import StreamingEngine


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run the causal and bidirectional engines over a generated clip")
    p.add_argument("--preset", default="stdnet-lite")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def stream_clip(engine: StreamingEngine, frames, lrs) -> tuple[list[np.ndarray], list[float]]:
    """Outputs (H, W) metres in frame order and the wall time of each push in ms."""
    outputs, push_ms = [], []
    for t, (frame, lr) in enumerate(zip(frames, lrs)):
        start = time.perf_counter()
        outputs += [d for _, d in engine.push(frame.rgb, lr, t / 30)]
        push_ms.append(1000 * (time.perf_counter() - start))
    outputs += [d for _, d in engine.flush()]
    return outputs, push_ms


def rmse_cm(pred: np.ndarray, gt: np.ndarray) -> float:
    ok = np.isfinite(pred) & (gt > 0)
    return float(100 * np.sqrt(np.mean((pred[ok] - gt[ok]) ** 2)))


def run(args) -> int:
    frames = list(generate_sequence(split_seed("test", 0), args.frames, args.width, args.height))
    lrs = [degrade_numpy(f.depth_m, f.rgb, args.scale) for f in frames]
    print(f"clip: {args.frames} generated frames {args.width}x{args.height}, LR x{args.scale} (dToF simulation), "
          f"preset {args.preset} with untrained (seeded random) weights, device {args.device}")
    results = {}
    for directions in ("causal", "bidirectional"):
        torch.manual_seed(0)
        engine = StreamingEngine(build_model(args.preset, scale=args.scale, directions=directions), args.device)
        outputs, push_ms = stream_clip(engine, frames, lrs)
        results[directions] = outputs
        print(f"{directions:13s} delay {engine.delay} frames | push ms per frame: "
              + " ".join(f"{m:.0f}" for m in push_ms))
        print(f"{'':13s} RMSE vs ground truth per frame (cm): "
              + " ".join(f"{rmse_cm(d, f.depth_m):.1f}" for d, f in zip(outputs, frames)))
    diff = [np.nanmean(np.abs(c - b)) * 100 for c, b in zip(results["causal"], results["bidirectional"])]
    print("mean |causal - bidirectional| per frame (cm): " + " ".join(f"{d:.1f}" for d in diff))
    return 0
