"""Non-recurrent propagation passes (model_spec.md §1.7), shared by the offline forward and the streaming engine.

A pass maps the previous pass's per-frame features to new ones. Frame t reads only frames t+d*1 and t+d*2 of the
previous pass (d = +1 backward, -1 forward), so frames are independent within a pass. Boundary rule: a neighbour
outside [0, num_frames) is skipped; a frame with no neighbour is copied unchanged.
Per-frame storages are indexable by frame number (a list or a dict) and hold (N, C, h, w) tensors.
With flow-guided alignment (flow_guidance.py) the neighbour's anchor is warped along the flow before the temporal
difference is taken, and the TDM's offsets are a residual over that flow.
"""

from collections.abc import Iterable, Mapping, Sequence

import torch

from .config import NEIGHBOUR_OFFSETS
from .flow_guidance import PairFlows, warp

STEP = {"backward": 1, "forward": -1}

Frames = Sequence[torch.Tensor] | Mapping[int, torch.Tensor]


def neighbours(t: int, direction: str, num_frames: int) -> list[int]:
    """Indices of frame t's neighbours in a pass of this direction within a clip of num_frames frames."""
    return [n for n in (t + STEP[direction] * k for k in NEIGHBOUR_OFFSETS) if 0 <= n < num_frames]


def propagate(
    tdm,
    feats: Frames,
    anchors: Frames,
    guides: Frames,
    weights: Frames,
    direction: str,
    frames: Iterable[int],
    num_frames: int,
    flows: PairFlows | None = None,
) -> dict[int, torch.Tensor]:
    """One pass for the given frames: out_t = sum over neighbours n of tdm(x_t, x_n, |a_n - a_t|, g_n, w_t), or
    with flows tdm(x_t, x_n, |warp(a_n, f_tn) - a_t|, g_n, w_t, f_tn).

    feats: previous pass features x; anchors: post-extraction features a (the temporal differences);
    guides: guide features g; weights: SDM weights w. The frames that share a neighbour offset are batched.
    """
    frames = list(frames)
    out: dict[int, torch.Tensor] = {}
    for k in NEIGHBOUR_OFFSETS:
        pairs = [(t, t + STEP[direction] * k) for t in frames]
        pairs = [(t, n) for t, n in pairs if 0 <= n < num_frames]
        if not pairs:
            continue
        cur = torch.cat([feats[t] for t, _ in pairs])
        flow = None if flows is None else torch.cat([flows.flow(t, n) for t, n in pairs])
        neighbour_anchor = torch.cat([anchors[n] for _, n in pairs])
        if flow is not None:
            neighbour_anchor = warp(neighbour_anchor, flow)
        result = tdm(
            cur,
            torch.cat([feats[n] for _, n in pairs]),
            (neighbour_anchor - torch.cat([anchors[t] for t, _ in pairs])).abs(),
            torch.cat([guides[n] for _, n in pairs]),
            torch.cat([weights[t] for t, _ in pairs]),
            flow,
        )
        for (t, _), r in zip(pairs, result.split(feats[pairs[0][0]].shape[0])):
            out[t] = out[t] + r if t in out else r
    return {t: out.get(t, feats[t]) for t in frames}
