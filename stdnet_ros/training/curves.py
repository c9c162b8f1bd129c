"""The training figure: validation metrics (cm) against step for one or more runs' log.csv, with reference levels
(for example the bicubic and guided-filter RMSE of the same split) as dashed horizontal lines.

One panel per metric, drawn with OpenCV only (as figures.py), one colour per run shared by the panels.
"""

import csv
from pathlib import Path

import cv2
import numpy as np

PANEL_W_PX, PANEL_H_PX = 560, 300
MARGIN_L_PX, MARGIN_R_PX, MARGIN_T_PX, MARGIN_B_PX = 64, 16, 40, 44
LEGEND_ROW_PX = 20
Y_TICKS = 6
FONT = cv2.FONT_HERSHEY_SIMPLEX
BLACK, GREY = (0, 0, 0), (150, 150, 150)
RUN_COLOURS_BGR = ((180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148), (75, 86, 140))
LEVEL_COLOURS_BGR = ((90, 90, 90), (0, 140, 200), (120, 60, 160), (60, 120, 60))
METRIC_LABELS = {
    "val_rmse_cm": "validation RMSE (cm)",
    "val_edge_rmse_cm": "validation edge RMSE (cm)",
    "val_mae_cm": "validation MAE (cm)",
    "val_tepe_cm": "validation TEPE (cm)",
}


def read_validation(log_csv: str | Path, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of the rows of a trainer log.csv that carry ``metric`` (the validation rows)."""
    steps, values = [], []
    with open(log_csv, newline="") as f:
        for row in csv.DictReader(f):
            if metric not in row:
                raise ValueError(f"{log_csv}: no column {metric!r} (columns: {', '.join(row)})")
            if row[metric]:
                steps.append(int(row["step"]))
                values.append(float(row[metric]))
    return np.asarray(steps), np.asarray(values)


def _text(canvas: np.ndarray, text: str, x: int, y: int, colour=BLACK, scale: float = 0.45) -> None:
    cv2.putText(canvas, text, (x, y), FONT, scale, colour, 1, cv2.LINE_AA)


def _panel(runs: dict[str, tuple[np.ndarray, np.ndarray]], levels: dict[str, float], title: str) -> np.ndarray:
    canvas = np.full((PANEL_H_PX, PANEL_W_PX, 3), 255, np.uint8)
    x0, x1 = MARGIN_L_PX, PANEL_W_PX - MARGIN_R_PX
    y0, y1 = MARGIN_T_PX, PANEL_H_PX - MARGIN_B_PX
    all_steps = np.concatenate([s for s, _ in runs.values()] + [np.zeros(1)])
    all_values = np.concatenate([v for _, v in runs.values()] + [np.asarray(list(levels.values()), float)])
    smax = max(float(all_steps.max()), 1.0)
    vmin, vmax = float(all_values.min()), float(all_values.max())
    pad = max(0.05 * (vmax - vmin), 0.05)
    vmin, vmax = vmin - pad, vmax + pad

    def px(step, value):
        return (int(round(x0 + (x1 - x0) * step / smax)), int(round(y1 - (y1 - y0) * (value - vmin) / (vmax - vmin))))

    cv2.rectangle(canvas, (x0, y0), (x1, y1), BLACK, 1)
    for i in range(Y_TICKS):
        value = vmin + (vmax - vmin) * i / (Y_TICKS - 1)
        y = px(0, value)[1]
        cv2.line(canvas, (x0 - 4, y), (x0, y), BLACK, 1)
        _text(canvas, f"{value:.2f}", 4, y + 4, scale=0.4)
    for i in range(5):
        step = smax * i / 4
        x = px(step, vmin)[0]
        cv2.line(canvas, (x, y1), (x, y1 + 4), BLACK, 1)
        _text(canvas, f"{step:.0f}", x - 12, y1 + 18, scale=0.4)
    _text(canvas, "step", (x0 + x1) // 2 - 14, PANEL_H_PX - 8, scale=0.45)
    _text(canvas, title, x0, 24, scale=0.55)
    for i, (name, value) in enumerate(levels.items()):
        colour = LEVEL_COLOURS_BGR[i % len(LEVEL_COLOURS_BGR)]
        y = px(0, value)[1]
        for xs in range(x0, x1, 12):
            cv2.line(canvas, (xs, y), (min(xs + 6, x1), y), colour, 1)
        _text(canvas, f"{name} {value:.2f}", x1 - 150, y - 4, colour, 0.4)
    for i, (steps, values) in enumerate(runs.values()):
        colour = RUN_COLOURS_BGR[i % len(RUN_COLOURS_BGR)]
        points = np.array([px(s, v) for s, v in zip(steps, values)], np.int32)
        if len(points) > 1:
            cv2.polylines(canvas, [points], False, colour, 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(canvas, tuple(int(c) for c in p), 2, colour, -1)
    return canvas


def save_training_curves(
    path: str | Path,
    logs: dict[str, str | Path],
    levels: dict[str, dict[str, float]] | None = None,
    metrics: tuple[str, ...] = ("val_rmse_cm", "val_edge_rmse_cm"),
) -> np.ndarray:
    """Write the figure (PNG) of ``metrics`` against step for each run (name -> log.csv), with ``levels``
    (metric -> reference name -> cm) as dashed lines in that metric's panel. Returns the image (BGR)."""
    if not logs:
        raise ValueError("logs: expected at least one run's log.csv")
    levels = levels or {}
    panels = []
    for metric in metrics:
        runs = {name: read_validation(log, metric) for name, log in logs.items()}
        panels.append(_panel(runs, levels.get(metric, {}), METRIC_LABELS.get(metric, metric)))
    legend = np.full((LEGEND_ROW_PX * len(logs) + 8, PANEL_W_PX, 3), 255, np.uint8)
    for i, name in enumerate(logs):
        colour = RUN_COLOURS_BGR[i % len(RUN_COLOURS_BGR)]
        y = LEGEND_ROW_PX * (i + 1)
        cv2.line(legend, (MARGIN_L_PX, y - 5), (MARGIN_L_PX + 24, y - 5), colour, 2)
        _text(legend, name, MARGIN_L_PX + 32, y)
    figure = np.vstack(panels + [legend])
    if not cv2.imwrite(str(path), figure):
        raise OSError(f"could not write {path}")
    return figure
