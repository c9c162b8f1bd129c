"""Sequence-level depth super-resolution metrics (RMSE, MAE, edge RMSE, TEPE), streaming, in cm.

Protocol (shared/research/model_spec.md section 4): errors are pooled over all pixels of all frames of a
sequence, not averaged per frame. Differences from the reference scripts, all documented here:

* Only pixels with valid ground truth (finite and > 0) count; the reference has no mask because its
  synthetic GT has no holes, so on such data the two agree.
* A prediction may be NaN (a baseline without LR support there). Errors are computed over pixels valid
  in both GT and prediction, and ``coverage`` reports the share of valid-GT pixels with a finite
  prediction; compare methods' errors only together with their coverage.
* TEPE (section 4.2): for each pair (t-1, t) given a GT flow, the GT and the prediction of t-1 are each
  forward-splatted along that GT flow with their own z-buffer (:func:`forward_splat`, in pixel space,
  where the reference goes through a pinhole camera and PyTorch3D); delta = depth_t - warped. The mask
  is where the GT splat landed and GT_t is valid. TEPE = sum of |delta_GT - delta_pred| over masked
  pixels / number of pixels of all pairs: off-mask pixels count as zeros, as in the reference; masked
  pixels where delta_pred is NaN (no prediction) are left out of the denominator.

Depth arguments are in metres, results in cm. Flow is (H, W, 2) float32 in HR pixels, (dx, dy), from the
previous frame to the current one (a pixel at (u, v) in frame t-1 is at (u + dx, v + dy) in frame t).
"""

import math

import numpy as np

from ..depth.geometry import Intrinsics, backproject, project
from ..depth.invalid_depth import valid_array
from .baselines import bicubic

CM_PER_M = 100.0

# Edge (long-tail) region: pixels whose bicubic error |GT - bicubic(LR)| is in the sequence's top 10 %.
# The threshold is found in a fixed histogram of that error, so memory does not grow with the sequence:
# bin 0 holds [0, 0.1 mm), bins 1..K are geometric with 1 % relative width up to 100 m, and the last bin
# holds errors >= 100 m and pixels where bicubic has no value (invalid LR), which count as the largest
# errors. The region is every bin from the one holding the 90th percentile up, so it holds at least 10 %
# of the pixels and at most that one 1 %-wide bin more.
EDGE_TOP_FRACTION = 0.10
EDGE_HIST_MIN_M = 1e-4
EDGE_HIST_MAX_M = 100.0
EDGE_HIST_RATIO = 1.01
_EDGE_HIST_INNER_BINS = math.ceil(math.log(EDGE_HIST_MAX_M / EDGE_HIST_MIN_M) / math.log(EDGE_HIST_RATIO))
EDGE_HIST_BINS = _EDGE_HIST_INNER_BINS + 2

# TEPE splat footprint: a source point covers every target pixel centre closer than 1 px, as the
# reference's PyTorch3D point rasteriser does with radius 2/H in NDC (NDC spans 2 units over the
# H = shorter side, so 2/H NDC = 1 px); it covers 1 to 4 pixels and leaves no cracks under slight stretching.
SPLAT_RADIUS_PX = 1.0


def forward_splat(depth_m: np.ndarray, flow_px: np.ndarray) -> np.ndarray:
    """Forward-warp (H, W) depth in metres along (H, W, 2) flow with a z-buffer.

    Returns (H, W) float32 depth in metres, NaN where nothing landed.

    Each valid source pixel (u, v) keeps its depth and moves to (u + dx, v + dy) (pixel-centre
    coordinates); it covers the target pixel centres within SPLAT_RADIUS_PX, and each target keeps the
    nearest depth. Pixels with invalid depth or non-finite flow are not splatted.
    """
    h, w = depth_m.shape
    x = np.arange(w, dtype=np.float32) + flow_px[..., 0]
    y = np.arange(h, dtype=np.float32)[:, None] + flow_px[..., 1]
    ok = valid_array(depth_m) & np.isfinite(x) & np.isfinite(y)
    x, y, z = x[ok], y[ok], depth_m[ok].astype(np.float32)
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    zbuf = np.full(h * w, np.inf, dtype=np.float32)
    # Only the 4 pixel centres around a point can be closer than 1 px (the radius is at most 1 px).
    for ax in (0, 1):
        for ay in (0, 1):
            tx, ty = x0 + ax, y0 + ay
            inside = (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
            hit = inside & ((fx - ax) ** 2 + (fy - ay) ** 2 < SPLAT_RADIUS_PX**2)
            np.minimum.at(zbuf, ty[hit] * w + tx[hit], z[hit])
    zbuf[np.isinf(zbuf)] = np.nan
    return zbuf.reshape(h, w)


def flow_from_depth_and_poses(
    depth_prev_m: np.ndarray, pose_prev_c2w: np.ndarray, pose_cur_c2w: np.ndarray, intrinsics: Intrinsics
) -> np.ndarray:
    """(H, W, 2) float32 optical flow in pixels from the previous to the current frame of a static scene.

    Poses are 4x4 camera-to-world transforms (OpenCV camera axes: x right, y down, z forward; metres).
    Flow is NaN where the previous depth is invalid or the point lies behind the current camera.
    """
    points_prev = backproject(depth_prev_m, intrinsics).astype(np.float64)
    prev_to_cur = np.linalg.inv(pose_cur_c2w) @ pose_prev_c2w
    # einsum, not matmul: with cv2's bundled OpenBLAS loaded next to numpy's, a BLAS matmul of this
    # shape was measured 100x slower here (two BLAS thread pools on 2 cores).
    points_cur = np.einsum("ij,hwj->hwi", prev_to_cur[:3, :3], points_prev) + prev_to_cur[:3, 3]
    points_cur[points_cur[..., 2] <= 0] = np.nan
    uv_cur = project(points_cur, intrinsics)
    u, v = np.meshgrid(np.arange(intrinsics.width), np.arange(intrinsics.height))
    return (uv_cur - np.stack([u, v], axis=-1)).astype(np.float32)


def _edge_bins(error_m: np.ndarray) -> np.ndarray:
    """Histogram bin index (see EDGE_HIST_*) of each bicubic error in metres; NaN goes to the last bin."""
    bins = np.full(error_m.shape, EDGE_HIST_BINS - 1, dtype=np.int64)
    finite = np.isfinite(error_m)
    small = finite & (error_m < EDGE_HIST_MIN_M)
    bins[small] = 0
    inner = finite & ~small
    k = np.floor(np.log(error_m[inner] / EDGE_HIST_MIN_M) / math.log(EDGE_HIST_RATIO)).astype(np.int64) + 1
    bins[inner] = np.minimum(k, EDGE_HIST_BINS - 1)
    return bins


class SequenceMetrics:
    """Streaming metrics of one sequence: call :meth:`add` once per frame in order, then :meth:`result`.

    Memory is bounded: running sums, the edge histogram (EDGE_HIST_BINS bins) and the previous frame.
    """

    def __init__(self, scale: int):
        self.scale = scale
        self.frames = 0
        self._n_gt = 0  # valid-GT pixels
        self._n_both = 0  # valid-GT pixels with a finite prediction
        self._sum_sq_m2 = 0.0
        self._sum_abs_m = 0.0
        self._edge_n_gt = np.zeros(EDGE_HIST_BINS, dtype=np.int64)
        self._edge_n_both = np.zeros(EDGE_HIST_BINS, dtype=np.int64)
        self._edge_sum_sq_m2 = np.zeros(EDGE_HIST_BINS, dtype=np.float64)
        self._tepe_sum_m = 0.0
        self._tepe_pixels = 0
        self._prev: tuple[np.ndarray, np.ndarray] | None = None  # (pred_m, gt_m) of the previous frame

    def add(self, pred_m: np.ndarray, gt_m: np.ndarray, lr_m: np.ndarray, flow: np.ndarray | None = None) -> None:
        """Add one frame: (H, W) prediction and GT in metres, (H/scale, W/scale) LR input in metres.

        ``flow``: (H, W, 2) GT flow in pixels from the previous frame to this one, or None (no TEPE
        term for this pair). It must be None on the first frame, which has no previous frame.
        """
        h, w = lr_m.shape
        if pred_m.shape != gt_m.shape or gt_m.shape != (h * self.scale, w * self.scale):
            raise ValueError(f"shapes: pred {pred_m.shape}, gt {gt_m.shape}, lr {lr_m.shape} at scale {self.scale}")
        if flow is not None and self._prev is None:
            raise ValueError("flow given on the first frame: flow goes from the previous frame to this one")
        if flow is not None and flow.shape != gt_m.shape + (2,):
            raise ValueError(f"flow: expected shape {gt_m.shape + (2,)}, got {flow.shape}")
        gt_ok = valid_array(gt_m)
        both = gt_ok & np.isfinite(pred_m)
        err_m = (pred_m.astype(np.float64) - gt_m)[both]
        sq_err_m2 = err_m * err_m
        self._n_gt += int(gt_ok.sum())
        self._n_both += err_m.size
        self._sum_sq_m2 += float(sq_err_m2.sum())
        self._sum_abs_m += float(np.abs(err_m).sum())
        bins = _edge_bins(np.abs(gt_m - bicubic(lr_m, None, self.scale)))
        self._edge_n_gt += np.bincount(bins[gt_ok], minlength=EDGE_HIST_BINS)
        self._edge_n_both += np.bincount(bins[both], minlength=EDGE_HIST_BINS)
        self._edge_sum_sq_m2 += np.bincount(bins[both], weights=sq_err_m2, minlength=EDGE_HIST_BINS)
        if flow is not None:
            self._add_tepe(pred_m, gt_m, flow)
        self._prev = (pred_m.copy(), gt_m.copy())  # copies: a caller may reuse its buffers
        self.frames += 1

    def _add_tepe(self, pred_m, gt_m, flow) -> None:
        pred_prev_m, gt_prev_m = self._prev
        delta_gt_m = gt_m - forward_splat(gt_prev_m, flow)  # NaN off the GT mask (or invalid GT now)
        delta_pred_m = pred_m - forward_splat(pred_prev_m, flow)
        mask = np.isfinite(delta_gt_m) & valid_array(gt_m)
        scored = mask & np.isfinite(delta_pred_m)
        self._tepe_sum_m += float(np.abs(delta_gt_m[scored] - delta_pred_m[scored]).astype(np.float64).sum())
        # Off-mask pixels count as zeros (as the reference); masked pixels without a prediction are left out.
        self._tepe_pixels += gt_m.size - int((mask & ~scored).sum())

    def _edge_threshold_bin(self) -> int:
        """First bin of the edge region: the bin holding the sequence's (1 - EDGE_TOP_FRACTION) quantile."""
        at_or_above = np.cumsum(self._edge_n_gt[::-1])[::-1]
        return int(np.nonzero(at_or_above >= EDGE_TOP_FRACTION * self._n_gt)[0][-1])

    def result(self) -> dict:
        """Pooled metrics: rmse_cm, mae_cm, edge_rmse_cm, tepe_cm (None without flow), coverage, frames.

        An error is None when no pixel was scored for it.
        """
        out = {
            "rmse_cm": None,
            "mae_cm": None,
            "edge_rmse_cm": None,
            "tepe_cm": None,
            "coverage": None,
            "frames": self.frames,
        }
        if self._n_gt:
            out["coverage"] = self._n_both / self._n_gt
            first = self._edge_threshold_bin()
            n_edge = int(self._edge_n_both[first:].sum())
            if n_edge:
                out["edge_rmse_cm"] = CM_PER_M * math.sqrt(self._edge_sum_sq_m2[first:].sum() / n_edge)
        if self._n_both:
            out["rmse_cm"] = CM_PER_M * math.sqrt(self._sum_sq_m2 / self._n_both)
            out["mae_cm"] = CM_PER_M * self._sum_abs_m / self._n_both
        if self._tepe_pixels:
            out["tepe_cm"] = CM_PER_M * self._tepe_sum_m / self._tepe_pixels
        return out


def mean_over_sequences(results: list[dict]) -> dict:
    """Mean of each metric over sequences (those where it is not None), total ``frames`` and ``sequences``."""
    out = {"sequences": len(results), "frames": sum(r["frames"] for r in results)}
    for key in ("rmse_cm", "mae_cm", "edge_rmse_cm", "tepe_cm", "coverage"):
        values = [r[key] for r in results if r[key] is not None]
        out[key] = sum(values) / len(values) if values else None
    return out
