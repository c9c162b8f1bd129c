"""``stdnet bench model``: offline whole-clip vs streaming per-frame cost of the network in both modes, and the
memory of a long stream (peak at frame 50 vs frame N), for torchvision's deformable conv in fp32 (the reference) and
model/deform.py's at each precision asked (torchvision's CPU kernel has no bf16), in one run, with each variant's
ratio to the reference. Inputs are random: the cost does not depend on content."""

import statistics
import time
from pathlib import Path

import numpy as np
import torch

from ..model import build_model
from ..model.difference_modules import use_deform
from ..streaming import PRECISIONS, StreamingEngine, resolve_device
from . import record


def memory_now(device: torch.device) -> dict:
    """Peak memory so far: the CUDA allocator's peak on a GPU, the process's peak resident set on the CPU (MiB)."""
    if device.type == "cuda":
        return {
            "cuda_peak_mib": torch.cuda.max_memory_allocated(device) / 2**20,
            "cuda_allocated_mib": torch.cuda.memory_allocated(device) / 2**20,
        }
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {"rss_peak_mib": int(status["VmHWM"].split()[0]) / 1024, "rss_mib": int(status["VmRSS"].split()[0]) / 1024}


def random_frames(n: int, height: int, width: int, scale: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield (
            rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
            (0.5 + 4 * rng.random((height // scale, width // scale))).astype(np.float32),
        )


def variants(precisions: list[str]) -> list[tuple[str, str]]:
    """(deformable-conv implementation, precision) pairs, the reference first."""
    return [("torchvision", "fp32")] + [("grid_sample", p) for p in precisions]


def offline_ms_per_frame(model, device, precision: str, args) -> float:
    frames = list(random_frames(args.offline_frames, args.height, args.width, args.scale, seed=1))
    rgb = torch.stack([torch.from_numpy(f[0]).permute(2, 0, 1).float() / 255 for f in frames])[None].to(device)
    lr = torch.stack([torch.from_numpy(f[1])[None] for f in frames])[None].to(device)
    dtype = PRECISIONS[precision]
    times = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        for _ in range(3):  # the first run warms up kernels and allocators
            start = time.perf_counter()
            model(lr, rgb).float().cpu()
            times.append(time.perf_counter() - start)
    return 1000 * min(times[1:]) / args.offline_frames


def streaming_run(model, device, precision: str, args) -> dict:
    engine = StreamingEngine(model, device=device, precision=precision)
    times, memory, cached = [], {}, {}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i, (rgb, lr) in enumerate(random_frames(args.frames, args.height, args.width, args.scale), start=1):
        start = time.perf_counter()
        engine.push(rgb, lr, i / 30)
        times.append(time.perf_counter() - start)
        if i in (50, args.frames):
            memory[f"frame_{i}"] = memory_now(device)
            cached[f"frame_{i}"] = engine.cached_tensors()
    steady = times[engine.delay + 2 * len(model.config.passes) :]
    return {
        "delay_frames": engine.delay,
        "ms_per_frame_median": 1000 * statistics.median(steady),
        "ms_per_frame_p95": record.percentile_ms(steady, 95),
        "memory": memory,
        "cached_tensors": cached,
    }


def run(args) -> int:
    device = resolve_device(args.device)
    results = {}
    for deform, precision in variants(args.precisions):
        modes = results[f"{deform}/{precision}"] = {}
        for directions in ("causal", "bidirectional"):
            torch.manual_seed(0)
            model = build_model(args.preset, scale=args.scale, directions=directions).to(device).eval()
            use_deform(model, deform)
            offline = offline_ms_per_frame(model, device, precision, args)
            stream = streaming_run(model, device, precision, args)
            stream["offline_ms_per_frame"] = offline
            stream["streaming_over_offline"] = stream["ms_per_frame_median"] / offline
            modes[directions] = stream
            mem = stream["memory"]
            print(
                f"{args.preset} {directions:13s} deform {deform:11s} {precision} delay {stream['delay_frames']} | "
                f"offline {offline:8.1f} ms/frame | streaming median {stream['ms_per_frame_median']:8.1f} p95 "
                f"{stream['ms_per_frame_p95']:8.1f} ms ({stream['streaming_over_offline']:.2f}x) | memory frame 50 "
                f"{mem.get('frame_50')} frame {args.frames} {mem.get(f'frame_{args.frames}')}"
            )
    reference = results["torchvision/fp32"]
    ratios = {
        name: {d: modes[d]["ms_per_frame_median"] / reference[d]["ms_per_frame_median"] for d in modes}
        for name, modes in results.items()
        if modes is not reference
    }
    for name, by_mode in ratios.items():
        print(f"streaming {name} / torchvision/fp32: " + ", ".join(f"{d} {r:.2f}x" for d, r in by_mode.items()))
    path = record.write(
        "model",
        device,
        {
            "preset": args.preset,
            "height": args.height,
            "width": args.width,
            "scale": args.scale,
            "frames": args.frames,
            "offline_frames": args.offline_frames,
            "variants": results,
            "streaming_over_torchvision_fp32": ratios,
        },
        args.out,
    )
    print(f"wrote {path}")
    return 0
