"""PNG figures comparing depth super-resolution methods, drawn with OpenCV only (no plotting library).

* :func:`save_frame_figure`: one frame. Top row: GT depth and each method's depth with one shared colour
  range; bottom row: the RGB and each method's |pred - GT| in cm with one shared error range.
* :func:`save_xt_slice_figure`: temporal stability. One image row over time (x across, time down) for GT
  and each method, stacked; flicker shows as horizontal streaks.

Depth uses the turbo colour map, errors viridis, both without their darkest end; invalid or missing
values (NaN, depth <= 0) are pure black. Inputs: depth in metres, RGB as uint8 RGB (not BGR).
"""

import cv2
import numpy as np

from ..depth.invalid_depth import valid_array
from .metrics import CM_PER_M

PANEL_MAX_WIDTH_PX = 320  # frame figure: wider images are shrunk to this (aspect kept)
XT_MAX_WIDTH_PX = 640
XT_MIN_HEIGHT_PX = 120  # short sequences are stretched in time to at least this height (nearest)
TITLE_HEIGHT_PX = 36
LABEL_HEIGHT_PX = 24
GAP_PX = 8
COLORBAR_WIDTH_PX = 16
COLORBAR_AREA_PX = 84  # bar plus tick labels
COLORBAR_TICKS = 5
DEPTH_COLORMAP = cv2.COLORMAP_TURBO
ERROR_COLORMAP = cv2.COLORMAP_VIRIDIS
COLORMAP_FIRST_INDEX = 24  # skip the near-black low end of both maps, so only invalid pixels look black
DEPTH_RANGE_PERCENTILES = (1.0, 99.0)  # of the valid GT; robust to a few outliers
ERROR_RANGE_PERCENTILE = 99.0  # of all methods' errors together
FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


def colorize(values: np.ndarray, vmin: float, vmax: float, colormap: int) -> np.ndarray:
    """(H, W, 3) uint8 BGR image of (H, W) values mapped linearly from [vmin, vmax]; non-finite -> black."""
    finite = np.isfinite(values)
    scaled = np.clip((np.where(finite, values, vmin) - vmin) / max(vmax - vmin, 1e-9), 0.0, 1.0)
    index = np.round(COLORMAP_FIRST_INDEX + scaled * (255 - COLORMAP_FIRST_INDEX)).astype(np.uint8)
    image = cv2.applyColorMap(src=index, colormap=colormap)
    image[~finite] = 0
    return image


def _depth_or_nan(depth_m: np.ndarray) -> np.ndarray:
    return np.where(valid_array(depth_m), depth_m, np.nan)


def depth_range_m(gt_m: np.ndarray) -> tuple[float, float]:
    """Shared colour range (vmin, vmax) in metres: percentiles of the valid GT (any shape)."""
    valid = gt_m[valid_array(gt_m)]
    if valid.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(valid, DEPTH_RANGE_PERCENTILES)
    return float(lo), float(max(hi, lo + 1e-3))


def _text(canvas: np.ndarray, text: str, x: int, y: int, scale: float = 0.5) -> None:
    cv2.putText(
        img=canvas,
        text=text,
        org=(x, y),
        fontFace=FONT,
        fontScale=scale,
        color=BLACK,
        thickness=1,
        lineType=cv2.LINE_AA,
    )


def _fit_width(image: np.ndarray, max_width: int) -> np.ndarray:
    h, w = image.shape[:2]
    if w <= max_width:
        return image
    return cv2.resize(src=image, dsize=(max_width, round(h * max_width / w)), interpolation=cv2.INTER_AREA)


def _draw_colorbar(
    canvas: np.ndarray, x: int, y: int, height: int, vmin: float, vmax: float, colormap: int, unit: str, fmt: str
) -> None:
    """Vertical bar at (x, y) of the given height, vmax at the top, with tick labels and the unit above."""
    ramp = np.linspace(vmax, vmin, height)[:, None].repeat(COLORBAR_WIDTH_PX, axis=1)
    canvas[y : y + height, x : x + COLORBAR_WIDTH_PX] = colorize(ramp, vmin, vmax, colormap)
    _text(canvas, unit, x, y - 8)
    for i in range(COLORBAR_TICKS):
        frac = i / (COLORBAR_TICKS - 1)
        ty = y + round(frac * (height - 1))
        cv2.line(img=canvas, pt1=(x + COLORBAR_WIDTH_PX, ty), pt2=(x + COLORBAR_WIDTH_PX + 4, ty), color=BLACK)
        _text(canvas, format(vmax - frac * (vmax - vmin), fmt), x + COLORBAR_WIDTH_PX + 7, ty + 5, 0.42)


def _grid_canvas(rows: int, cols: int, panel_h: int, panel_w: int) -> np.ndarray:
    height = TITLE_HEIGHT_PX + rows * (LABEL_HEIGHT_PX + panel_h + GAP_PX)
    width = GAP_PX + cols * (panel_w + GAP_PX) + COLORBAR_AREA_PX
    return np.full((height, width, 3), 255, dtype=np.uint8)


def _place(canvas: np.ndarray, image: np.ndarray, label: str, row: int, col: int) -> tuple[int, int]:
    """Paste a panel with its label above it into grid cell (row, col); return the panel's (x, y)."""
    h, w = image.shape[:2]
    x = GAP_PX + col * (w + GAP_PX)
    y = TITLE_HEIGHT_PX + row * (LABEL_HEIGHT_PX + h + GAP_PX) + LABEL_HEIGHT_PX
    canvas[y : y + h, x : x + w] = image
    _text(canvas, label, x + 2, y - 7)
    return x, y


def _write(path, canvas: np.ndarray) -> np.ndarray:
    if not cv2.imwrite(str(path), canvas):
        raise OSError(f"could not write {path}")
    return canvas


def save_frame_figure(path, rgb: np.ndarray, gt_m: np.ndarray, preds: dict[str, np.ndarray], title: str) -> np.ndarray:
    """Write the one-frame comparison PNG and return it as a BGR uint8 array.

    ``rgb``: (H, W, 3) uint8 RGB; ``gt_m`` and every ``preds`` value: (H, W) depth in metres. Each error
    panel is labelled with that frame's RMSE over pixels valid in both GT and prediction.
    """
    vmin, vmax = depth_range_m(gt_m)
    gt = _depth_or_nan(gt_m)
    errors_cm = {name: CM_PER_M * np.abs(_depth_or_nan(pred) - gt) for name, pred in preds.items()}
    pooled = np.concatenate([e[np.isfinite(e)] for e in errors_cm.values()] + [np.zeros(1)])
    err_max_cm = max(float(np.percentile(pooled, ERROR_RANGE_PERCENTILE)), 0.1)

    def panel(image):
        return _fit_width(image, PANEL_MAX_WIDTH_PX)

    first = panel(colorize(gt, vmin, vmax, DEPTH_COLORMAP))
    canvas = _grid_canvas(2, len(preds) + 1, *first.shape[:2])
    _text(canvas, f"{title}   (black: no depth)", GAP_PX, 24, 0.65)
    _, depth_y = _place(canvas, first, "GT depth", 0, 0)
    _, err_y = _place(canvas, panel(cv2.cvtColor(src=rgb, code=cv2.COLOR_RGB2BGR)), "RGB", 1, 0)
    for col, (name, pred) in enumerate(preds.items(), start=1):
        _place(canvas, panel(colorize(_depth_or_nan(pred), vmin, vmax, DEPTH_COLORMAP)), name, 0, col)
        err = errors_cm[name]
        rmse = np.sqrt(np.mean(err[np.isfinite(err)] ** 2)) if np.isfinite(err).any() else float("nan")
        _place(
            canvas, panel(colorize(err, 0.0, err_max_cm, ERROR_COLORMAP)), f"{name} |err|, RMSE {rmse:.1f} cm", 1, col
        )
    bar_x = canvas.shape[1] - COLORBAR_AREA_PX + 4
    _draw_colorbar(canvas, bar_x, depth_y, first.shape[0], vmin, vmax, DEPTH_COLORMAP, "depth m", ".2f")
    _draw_colorbar(canvas, bar_x, err_y, first.shape[0], 0.0, err_max_cm, ERROR_COLORMAP, "err cm", ".1f")
    return _write(path, canvas)


def save_xt_slice_figure(path, gt_stack_m: np.ndarray, preds_stack: dict[str, np.ndarray], row: int) -> np.ndarray:
    """Write the x-t slice PNG of image row ``row`` and return it as a BGR uint8 array.

    ``gt_stack_m`` and every ``preds_stack`` value: (T, H, W) depth in metres, frames in time order.
    Each slice is (T, W): x across, time down, stretched in time to at least XT_MIN_HEIGHT_PX.
    """
    vmin, vmax = depth_range_m(gt_stack_m[:, row])
    stacks = {"GT": gt_stack_m, **preds_stack}
    frames = gt_stack_m.shape[0]
    repeat = -(-XT_MIN_HEIGHT_PX // frames)  # ceil

    def slice_image(stack):
        image = colorize(_depth_or_nan(stack[:, row]), vmin, vmax, DEPTH_COLORMAP)
        return _fit_width(np.repeat(image, repeat, axis=0), XT_MAX_WIDTH_PX)

    images = {name: slice_image(stack) for name, stack in stacks.items()}
    panel_h, panel_w = next(iter(images.values())).shape[:2]
    canvas = _grid_canvas(len(images), 1, panel_h, panel_w)
    _text(canvas, f"row {row} over {frames} frames: x across, time down (black: no depth)", GAP_PX, 24, 0.55)
    tops = [_place(canvas, image, name, r, 0)[1] for r, (name, image) in enumerate(images.items())]
    _draw_colorbar(
        canvas,
        canvas.shape[1] - COLORBAR_AREA_PX + 4,
        tops[0],
        tops[-1] + panel_h - tops[0],
        vmin,
        vmax,
        DEPTH_COLORMAP,
        "depth m",
        ".2f",
    )
    return _write(path, canvas)
