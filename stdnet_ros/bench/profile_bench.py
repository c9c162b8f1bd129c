"""``stdnet bench profile``: where one streaming step spends its time (torch.profiler), by operator, with the share
of the deformable convolutions (forward only: this is the inference path)."""

import torch
from torch.profiler import ProfilerActivity, profile

from ..model import build_model
from ..streaming import StreamingEngine, resolve_device
from . import record
from .model_bench import random_frames

TOP_OPS = 12


def run(args) -> int:
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = build_model(args.preset, scale=args.scale, directions=args.directions)
    engine = StreamingEngine(model, device=device, precision=args.precision)
    warmup = engine.delay + 2 * len(model.config.passes) + 1
    frames = random_frames(warmup + args.steps, args.height, args.width, args.scale)
    for t in range(warmup):
        engine.push(*next(frames), t / 30)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for t in range(warmup, warmup + args.steps):
            engine.push(*next(frames), t / 30)
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, key) > 0]
    total = sum(getattr(e, key) for e in events)
    ops = sorted(
        (
            {
                "op": e.key,
                "ms_per_step": getattr(e, key) / 1000 / args.steps,
                "share": getattr(e, key) / total,
                "calls_per_step": e.count / args.steps,
            }
            for e in events
        ),
        key=lambda o: -o["share"],
    )
    dcn = sum(o["share"] for o in ops if "deform_conv2d" in o["op"])
    print(
        f"{args.preset} {args.directions} {args.width}x{args.height} on {device}: "
        f"{total / 1000 / args.steps:.1f} ms per step (self time), deform_conv2d {100 * dcn:.1f} %"
    )
    for o in ops[:TOP_OPS]:
        print(f"  {o['op']:45s} {o['ms_per_step']:9.2f} ms  {100 * o['share']:5.1f} %  {o['calls_per_step']:.0f} calls")
    path = record.write(
        "profile",
        device,
        {
            "preset": args.preset,
            "directions": args.directions,
            "height": args.height,
            "width": args.width,
            "scale": args.scale,
            "precision": args.precision,
            "steps": args.steps,
            "ms_per_step": total / 1000 / args.steps,
            "deform_conv2d_share": dcn,
            "ops": ops[:40],
        },
        args.out,
    )
    print(f"wrote {path}")
    return 0
