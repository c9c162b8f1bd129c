"""``stdnet bench train``: seconds per training step of a model at the CPU recipe's shapes, for torchvision's
deformable conv in fp32 (the reference) and model/deform.py's at each precision asked (bf16: autocast, as the trainer
runs it), in one run, so their ratios are measured under the same load. Inputs are random: the cost does not depend
on content. Optimiser and loss as the trainer runs them."""

import statistics
import time

import torch

from ..model import build_model
from ..model.difference_modules import use_deform
from ..model.losses import STDNetLoss
from ..streaming import resolve_device
from ..training.trainer import TrainModule
from . import record
from .model_bench import variants


def seconds_per_step(name: str, precision: str, device: torch.device, args) -> list[float]:
    torch.manual_seed(0)
    model = build_model(args.preset, scale=args.scale, directions=args.directions).to(device)
    use_deform(model, name)
    module = TrainModule(model, STDNetLoss(model.config.channels, "mse").to(device), bf16=precision == "bf16")
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-4)
    n, t, p, s = args.batch, args.frames, args.patch, model.config.scale
    g = torch.Generator().manual_seed(0)
    lr = (torch.rand(n, t, 1, p // s, p // s, generator=g) * 3 + 0.5).to(device)
    rgb = torch.rand(n, t, 3, p, p, generator=g).to(device)
    gt = (torch.rand(n, t, 1, p, p, generator=g) * 3 + 0.5).to(device)
    times = []
    for i in range(2 + args.steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        losses = module(lr, rgb, gt)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= 2:
            times.append(time.perf_counter() - start)
    return times


def run(args) -> int:
    device = resolve_device(args.device)
    results = {}
    for deform, precision in variants(args.precisions):
        times = seconds_per_step(deform, precision, device, args)
        name = f"{deform}/{precision}"
        results[name] = {
            "ms_per_step_median": 1000 * statistics.median(times),
            "ms_per_step": [1000 * x for x in times],
        }
        print(
            f"{args.preset} {args.directions} train step B{args.batch} x T{args.frames} x {args.patch}^2, deform "
            f"{name:17s}: {results[name]['ms_per_step_median']:8.1f} ms (median of {args.steps})"
        )
    reference = results["torchvision/fp32"]["ms_per_step_median"]
    ratios = {name: r["ms_per_step_median"] / reference for name, r in results.items() if name != "torchvision/fp32"}
    for name, ratio in ratios.items():
        print(f"{name} / torchvision/fp32 = {ratio:.2f}x")
    path = record.write(
        "train",
        device,
        {
            "preset": args.preset,
            "directions": args.directions,
            "batch": args.batch,
            "frames": args.frames,
            "patch": args.patch,
            "scale": args.scale,
            "steps": args.steps,
            "variants": results,
            "over_torchvision_fp32": ratios,
        },
        args.out,
    )
    print(f"wrote {path}")
    return 0
