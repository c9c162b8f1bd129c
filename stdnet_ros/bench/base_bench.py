"""``stdnet bench base``: the joint-bilateral residual base (half window, model/residual_base.py) against its
tap-by-tap reference, timed in one run with the calls interleaved, as a ratio; and their largest difference."""

import time

import torch

from ..model.residual_base import joint_bilateral, joint_bilateral_reference
from ..streaming import resolve_device
from . import record

IMPLEMENTATIONS = {"half-window": joint_bilateral, "reference": joint_bilateral_reference}


def run(args) -> int:
    device = resolve_device(args.device)
    torch.manual_seed(0)
    rgb = torch.rand(args.batch, 3, args.height, args.width, device=device)  # (B, 3, H, W) in [0, 1]
    src = 1 + 0.3 * torch.rand(args.batch, 1, args.height, args.width, device=device)  # (B, 1, H, W) normalised depth
    samples: dict[str, list[float]] = {name: [] for name in IMPLEMENTATIONS}
    with torch.no_grad():
        outputs = {name: base(rgb, src) for name, base in IMPLEMENTATIONS.items()}  # warm-up, and the comparison
        for _ in range(args.repeats):
            for name, base in IMPLEMENTATIONS.items():
                start = time.perf_counter()
                base(rgb, src)
                samples[name].append(time.perf_counter() - start)
    ms = {name: record.percentile_ms(s, 50) for name, s in samples.items()}
    ratio = ms["half-window"] / ms["reference"]
    difference = float((outputs["half-window"] - outputs["reference"]).abs().max())
    print(
        f"joint-bilateral base, batch {args.batch} x {args.width}x{args.height} on {device} "
        f"({torch.get_num_threads()} threads): half window {ms['half-window']:.1f} ms, reference "
        f"{ms['reference']:.1f} ms (p50 of {args.repeats}), ratio {ratio:.2f}; max difference {difference:.1e}"
    )
    path = record.write(
        "base",
        device,
        {
            "batch": args.batch,
            "height": args.height,
            "width": args.width,
            "repeats": args.repeats,
            "threads": torch.get_num_threads(),
            "ms_p50": ms,
            "ratio_half_window_to_reference": ratio,
            "max_abs_difference": difference,
        },
        args.out,
    )
    print(f"wrote {path}")
    return 0
