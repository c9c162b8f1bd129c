"""Optical flow from the HR RGB for flow-guided alignment (config alignment "flow-guided", as BasicVSR++ guides its
deformable convolutions): a TDM's offsets are a learned residual over this flow.

The flow of a pair (t, n) gives, for each pixel of frame t, the displacement (dx, dy) to the same point in frame n,
so that frame n sampled at p + flow(p) looks like frame t at p. It is OpenCV's DIS flow (preset FAST) on the HR
grey images, averaged over each 4 x 4 block of HR pixels and divided by 4: (B, 2, H/4, W/4) in feature pixels,
the grid the TDMs work on. The same computation serves training, the offline forward and the streaming engine.
"""

import cv2
import numpy as np
import torch
import torch.nn.functional as F

FEATURE_STRIDE = 4  # HR pixels per feature pixel
DIS_PRESET = cv2.DISOPTICAL_FLOW_PRESET_FAST  # EPE 0.37 HR px at 0.9 ms per 320x240 pair (model card, record)


def grey_u8(rgb: torch.Tensor) -> np.ndarray:
    """rgb (B, 3, H, W) in [0, 1] -> (B, H, W) uint8 luma (ITU-R BT.601 weights, as OpenCV's RGB2GRAY)."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32, device=rgb.device).view(1, 3, 1, 1)
    luma = (rgb.detach().float() * weights).sum(1) * 255.0
    return luma.round().clamp(0, 255).to(torch.uint8).cpu().numpy()


def block_mean(flow_hr: np.ndarray) -> np.ndarray:
    """(B, H, W, 2) HR-pixel flow -> (B, 2, H/4, W/4) feature-pixel flow: the mean over each 4 x 4 block, / 4."""
    b, h, w, _ = flow_hr.shape
    s = FEATURE_STRIDE
    blocks = flow_hr.reshape(b, h // s, s, w // s, s, 2).mean(axis=(2, 4))
    return np.ascontiguousarray(blocks.transpose(0, 3, 1, 2) / s, dtype=np.float32)


class PairFlows:
    """Flows of the frame pairs of one clip or stream, each computed once when first asked for.

    ``add(t, rgb)`` stores frame t's grey images (a batch of B clips); ``flow(t, n)`` is then (B, 2, H/4, W/4)
    feature pixels (see the module docstring), on the device and in the dtype of the first frame added.
    """

    def __init__(self):
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESET)
        self._greys: dict[int, np.ndarray] = {}
        self._flows: dict[tuple[int, int], torch.Tensor] = {}
        self._device: torch.device | None = None

    @classmethod
    def of_clip(cls, rgb: torch.Tensor) -> "PairFlows":
        """The flows of a whole clip, rgb (N, T, 3, H, W) in [0, 1]."""
        flows = cls()
        for t in range(rgb.shape[1]):
            flows.add(t, rgb[:, t])
        return flows

    def add(self, t: int, rgb: torch.Tensor) -> None:
        """Frame t: rgb (B, 3, H, W) in [0, 1], H and W multiples of 4."""
        h, w = rgb.shape[-2:]
        if h % FEATURE_STRIDE or w % FEATURE_STRIDE:
            raise ValueError(f"rgb: height and width must be multiples of {FEATURE_STRIDE}, got {h}x{w}")
        self._device = rgb.device
        self._greys[t] = grey_u8(rgb)

    def flow(self, t: int, n: int) -> torch.Tensor:
        if (t, n) not in self._flows:
            current, neighbour = self._greys[t], self._greys[n]
            hr = np.stack([self._dis.calc(a, b, None) for a, b in zip(current, neighbour)])
            self._flows[(t, n)] = torch.from_numpy(block_mean(hr)).to(self._device)
        return self._flows[(t, n)]

    def evict_before(self, first_needed: int) -> None:
        """Forget the frames before ``first_needed`` and every pair that involves one."""
        for t in [t for t in self._greys if t < first_needed]:
            del self._greys[t]
        for pair in [p for p in self._flows if min(p) < first_needed]:
            del self._flows[pair]

    def cached_frames(self) -> int:
        return len(self._greys)


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """x (B, C, h, w) sampled at p + flow(p), flow (B, 2, h, w) (dx, dy) in pixels of x; bilinear, the border
    value outside (pixel centres at integers, as deform.py)."""
    b, _, h, w = x.shape
    rows = torch.arange(h, device=x.device, dtype=flow.dtype).view(1, h, 1)
    cols = torch.arange(w, device=x.device, dtype=flow.dtype).view(1, 1, w)
    gx = (2 * (cols + flow[:, 0]) + 1) / w - 1
    gy = (2 * (rows + flow[:, 1]) + 1) / h - 1
    grid = torch.stack([gx, gy], dim=-1).to(x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
