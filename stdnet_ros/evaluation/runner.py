"""Evaluation core shared by ``stdnet eval``, training validation and tools that read frames from elsewhere (bags).

Frames come through a small interface, :class:`EvalSequence` (a name and an iterable of :class:`EvalFrame`), so
any frame source can be scored. Each method is a stream runner (:class:`Method`): frames are pushed in order and
predictions come back, possibly later (the bidirectional STDNet engine answers 8 frames late); STDNet runs
through :class:`~stdnet_ros.streaming.StreamingEngine` exactly as the node does. One pass over the frames feeds
every method, and memory is bounded by the longest method delay.

Metrics (metrics.py): pooled over all valid-GT pixels of all frames of a sequence, RMSE / MAE / edge RMSE / TEPE
in cm, plus ms per frame (wall time inside the method's push and flush calls, over frames). The mean over
sequences is the plain mean of the per-sequence values (ms per frame: total time over total frames).

Dataset folders (:func:`dataset_sequence`): LR is the stored lr_x{s}/ when present and ``degradation`` is None
("auto"), else simulated. TEPE uses flow/ when stored; otherwise, when the sequence has poses and the scene is
static, flow derived from GT depth and poses. A scene counts as static when, for frames STATIC_FRAME_GAP apart
(0.2 s at 30 fps: one frame apart, objects move too little to tell), the earlier GT depth moved rigidly by the
camera poses and forward-splatted into the later view agrees with the later GT depth within
STATIC_TOLERANCE_M + STATIC_TOLERANCE_REL x depth + the largest depth step to a neighbouring pixel (a splat lands
up to 1 px off the pixel centre) on all but at most STATIC_MAX_OUTLIER_FRACTION of the pixels where both exist.
Moving objects break that agreement: on generated 160x128 scenes the outlier share was <= 0.2 % with every object
frozen and >= 1.4 % with the objects moving. Otherwise TEPE is null.
"""

import json
import math
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ..data import DatasetError, SequenceReader
from ..data.scene import FPS
from ..depth.degradation import DEFAULT_SENSOR, KINDS, SENSORS, Degradation, degrade_numpy
from ..depth.geometry import backproject
from ..depth.invalid_depth import valid_array
from ..streaming import StreamingEngine
from .baselines import BASELINES, run_baseline
from .figures import save_frame_figure, save_xt_slice_figure
from .metrics import SequenceMetrics, flow_from_depth_and_poses, forward_splat, mean_over_sequences

# method -> the direction pattern of the weights it runs; stdnet-single-frame is the evaluation-time temporal
# ablation of the causal weights (SingleFrameMethod), stdnet-single-frame-net the separately trained network without
# passes (its --weights file is never shipped, so it runs only when asked for)
STDNET_METHODS = {
    "stdnet-causal": "causal",
    "stdnet-bidirectional": "bidirectional",
    "stdnet-single-frame": "causal",
    "stdnet-single-frame-net": "single-frame",
}
METHODS = (*STDNET_METHODS, *BASELINES)
DEFAULT_METHODS = tuple(m for m in METHODS if m != "stdnet-single-frame-net")
METRIC_KEYS = ("rmse_cm", "mae_cm", "edge_rmse_cm", "tepe_cm")
STATIC_TOLERANCE_M = 0.02
STATIC_TOLERANCE_REL = 0.01
STATIC_MAX_OUTLIER_FRACTION = 0.005
STATIC_FRAME_GAP = 6


@dataclass(frozen=True, eq=False)
class EvalFrame:
    """rgb (H, W, 3) uint8; gt_m (H, W) metres (0 = invalid); lr_m (H/s, W/s) metres (0 = invalid);
    flow (H, W, 2) GT forward flow in pixels from the previous frame, or None; stamp in seconds."""

    rgb: np.ndarray
    gt_m: np.ndarray
    lr_m: np.ndarray
    flow: np.ndarray | None
    stamp: float


@dataclass(eq=False)
class EvalSequence:
    """A named stream of frames in time order; ``num_frames`` when known (the figures show the middle frame),
    ``info`` is copied to metrics.json (e.g. where LR and flow came from)."""

    name: str
    frames: Iterable[EvalFrame]
    num_frames: int | None = None
    info: dict = field(default_factory=dict)


class Method(Protocol):
    """A stream runner: ``push`` frame ``index`` and get back the (index, (H, W) metres prediction) pairs that
    became final, in frame order; ``flush`` at the end of a sequence returns the rest and resets."""

    def push(self, index: int, frame: EvalFrame) -> list[tuple[int, np.ndarray]]: ...

    def flush(self) -> list[tuple[int, np.ndarray]]: ...


class BaselineMethod:
    """A classical baseline of baselines.py; answers each frame at once."""

    def __init__(self, name: str, scale: int):
        if name not in BASELINES:
            raise ValueError(f"unknown baseline {name!r}; expected one of {sorted(BASELINES)}")
        self.name, self.scale = name, scale

    def push(self, index: int, frame: EvalFrame) -> list[tuple[int, np.ndarray]]:
        return [(index, run_baseline(self.name, frame.lr_m, frame.rgb, self.scale))]

    def flush(self) -> list[tuple[int, np.ndarray]]:
        return []


class EngineMethod:
    """STDNet through a streaming engine, as the node runs it (causal: answers at once; bidirectional: late)."""

    def __init__(self, engine: StreamingEngine):
        self.engine = engine
        self._index_of_stamp: dict[float, int] = {}

    def push(self, index: int, frame: EvalFrame) -> list[tuple[int, np.ndarray]]:
        self._index_of_stamp[frame.stamp] = index
        return self._indexed(self.engine.push(frame.rgb, frame.lr_m, frame.stamp))

    def flush(self) -> list[tuple[int, np.ndarray]]:
        out = self._indexed(self.engine.flush())
        self._index_of_stamp.clear()
        return out

    def _indexed(self, outputs):
        return [(self._index_of_stamp.pop(stamp), depth) for stamp, depth in outputs]


class SingleFrameMethod(EngineMethod):
    """The ablation of the temporal paths: every frame is a clip of its own, so every propagation pass finds no
    neighbour and copies its input (propagation.py's boundary rule). The trained model meets exactly this case at
    the first frame of every training clip, so it is the same network with its passes skipped."""

    def push(self, index: int, frame: EvalFrame) -> list[tuple[int, np.ndarray]]:
        return super().push(index, frame) + self.flush()


def evaluate_sequence(
    sequence: EvalSequence, methods: dict[str, Method], scale: int, figures_dir: Path | None = None
) -> dict[str, dict]:
    """Run every method over the sequence once; per method its metrics.py result plus ms_per_frame.

    With ``figures_dir``, writes <name>_frame<k>.png (middle frame: depth and error per method) and
    <name>_xt_row<r>.png (middle image row over time) there.
    """
    metrics = {name: SequenceMetrics(scale) for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    next_out = dict.fromkeys(methods, 0)
    pending: dict[int, EvalFrame] = {}
    figure_index = (sequence.num_frames or 1) // 2
    figure_preds: dict[str, np.ndarray] = {}
    xt_rows = {name: [] for name in ("GT", *methods)}
    row = None

    def score(name: str, outputs) -> None:
        for index, pred in outputs:
            if index != next_out[name]:
                raise RuntimeError(f"{name}: returned frame {index} of {sequence.name}, expected {next_out[name]}")
            next_out[name] += 1
            frame = pending[index]
            metrics[name].add(pred, frame.gt_m, frame.lr_m, frame.flow if index > 0 else None)
            xt_rows[name].append(pred[row].copy())
            if index == figure_index:
                figure_preds[name] = pred
            if all(n > index for n in next_out.values()) and index != figure_index:
                del pending[index]

    def timed(name: str, call, *args):
        start = time.perf_counter()
        outputs = call(*args)
        seconds[name] += time.perf_counter() - start
        score(name, outputs)

    count = 0
    for index, frame in enumerate(sequence.frames):
        _check_frame(sequence.name, index, frame, scale)
        row = frame.gt_m.shape[0] // 2 if row is None else row
        pending[index] = frame
        xt_rows["GT"].append(frame.gt_m[row].copy())
        for name, method in methods.items():
            timed(name, method.push, index, frame)
        count = index + 1
    for name, method in methods.items():
        timed(name, method.flush)
    missing = [name for name, n in next_out.items() if n != count]
    if missing:
        raise RuntimeError(f"{sequence.name}: {missing} did not return all {count} frames")
    if figures_dir is not None and count:
        _save_figures(figures_dir, sequence.name, pending.get(figure_index), figure_index, figure_preds, xt_rows, row)
    return {
        name: {**metrics[name].result(), "ms_per_frame": 1000.0 * seconds[name] / max(count, 1)} for name in methods
    }


def _check_frame(name: str, index: int, frame: EvalFrame, scale: int) -> None:
    h, w = frame.gt_m.shape
    problems = []
    if frame.rgb.shape != (h, w, 3) or frame.rgb.dtype != np.uint8:
        problems.append(f"rgb {frame.rgb.dtype} {frame.rgb.shape}, expected uint8 {(h, w, 3)}")
    if h % scale or w % scale:
        problems.append(f"size {w}x{h} is not divisible by the scale {scale}")
    elif frame.lr_m.shape != (h // scale, w // scale):
        problems.append(f"LR shape {frame.lr_m.shape}, expected {(h // scale, w // scale)}")
    if problems:
        raise DatasetError(f"{name} frame {index}: " + "; ".join(problems))


def _save_figures(
    folder: Path, name: str, frame: EvalFrame | None, index: int, preds: dict, xt_rows: dict, row: int
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = name.replace("/", "_")
    if frame is not None:
        save_frame_figure(
            folder / f"{stem}_frame{index:06d}.png", frame.rgb, frame.gt_m, preds, f"{name} frame {index}"
        )
    stacks = {k: np.stack(v)[:, None] for k, v in xt_rows.items()}
    save_xt_slice_figure(folder / f"{stem}_xt_row{row}.png", stacks.pop("GT"), stacks, 0)


def evaluate(
    sequences: Iterable[EvalSequence],
    methods: dict[str, Method],
    scale: int,
    out_dir: Path | None = None,
    info: dict | None = None,
) -> dict:
    """Evaluate every sequence; returns the metrics.json dict, and with ``out_dir`` writes metrics.json,
    metrics.md and figures/ there. ``info`` is added to the top level of the report."""
    per_method: dict[str, dict[str, dict]] = {name: {} for name in methods}
    sequence_info = {}
    figures = None if out_dir is None else Path(out_dir) / "figures"
    for sequence in sequences:
        if sequence.name in sequence_info:
            raise DatasetError(f"two sequences are named {sequence.name!r}; give them distinct folder names")
        results = evaluate_sequence(sequence, methods, scale, figures)
        for name, result in results.items():
            per_method[name][sequence.name] = result
        sequence_info[sequence.name] = {"frames": results[next(iter(results))]["frames"], **sequence.info}
    report = {
        "scale": scale,
        **(info or {}),
        "sequences": sequence_info,
        "methods": {name: {"sequences": seqs, "mean": _mean(list(seqs.values()))} for name, seqs in per_method.items()},
    }
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
        (Path(out_dir) / "metrics.md").write_text(markdown_table(report))
    return report


def _mean(results: list[dict]) -> dict:
    mean = mean_over_sequences(results) if results else {"sequences": 0, "frames": 0}
    frames = sum(r["frames"] for r in results)
    mean["ms_per_frame"] = sum(r["ms_per_frame"] * r["frames"] for r in results) / frames if frames else None
    return mean


def _cell(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown_table(report: dict) -> str:
    """The report as Markdown: the mean over sequences per method, then every sequence."""
    header = "| {} | RMSE cm | MAE cm | edge RMSE cm | TEPE cm | coverage | ms/frame |\n|---|---|---|---|---|---|---|\n"
    methods = report["methods"]
    count = len(report["sequences"])
    lines = [
        f"# Depth super-resolution x{report['scale']}\n\n",
        f"Mean over {count} sequence(s); errors over valid ground-truth pixels pooled over all frames of a "
        f"sequence, lower is better; coverage = share of valid-GT pixels with a prediction.\n\n",
        header.format("method"),
    ]

    def row(label, r):
        cells = [_cell(r[k]) for k in METRIC_KEYS] + [_cell(r["coverage"], 3), _cell(r["ms_per_frame"], 1)]
        return f"| {label} | " + " | ".join(cells) + " |\n"

    lines += [row(name, m["mean"]) for name, m in methods.items()]
    for sequence in report["sequences"]:
        lines += [f"\n## {sequence}\n\n", header.format("method")]
        lines += [row(name, m["sequences"][sequence]) for name, m in methods.items()]
    return "".join(lines)


# --- dataset folders as evaluation sequences ---


def rigid_outlier_fraction(
    depth_prev_m: np.ndarray, depth_cur_m: np.ndarray, pose_prev_c2w: np.ndarray, pose_cur_c2w: np.ndarray, intrinsics
) -> float:
    """Share of the compared pixels where the previous (H, W) depth, moved rigidly by the camera poses and
    forward-splatted into the current view, disagrees with the current depth (1.0 if no pixel compares)."""
    prev_to_cur = np.linalg.inv(pose_cur_c2w) @ pose_prev_c2w
    points = backproject(depth_prev_m, intrinsics).astype(np.float64)
    z_cur = np.einsum("j,hwj->hw", prev_to_cur[2, :3], points) + prev_to_cur[2, 3]
    flow = flow_from_depth_and_poses(depth_prev_m, pose_prev_c2w, pose_cur_c2w, intrinsics)
    warped = forward_splat(np.nan_to_num(z_cur, nan=0.0).astype(np.float32), flow)
    compared = np.isfinite(warped) & valid_array(depth_cur_m)
    if not compared.any():
        return 1.0
    tolerance = STATIC_TOLERANCE_M + STATIC_TOLERANCE_REL * depth_cur_m + _neighbour_step(depth_cur_m)
    return float(np.mean(np.abs(warped - depth_cur_m)[compared] > tolerance[compared]))


def _neighbour_step(depth_m: np.ndarray) -> np.ndarray:
    """(H, W) largest |depth change| to a 4-neighbour in metres: how far a splat landing up to 1 px off the
    pixel centre can be from that pixel's depth (slanted surfaces, and edges, where it is large)."""
    padded = np.pad(depth_m, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    steps = [
        np.abs(padded[1:-1, :-2] - centre),
        np.abs(padded[1:-1, 2:] - centre),
        np.abs(padded[:-2, 1:-1] - centre),
        np.abs(padded[2:, 1:-1] - centre),
    ]
    return np.max(steps, axis=0)


def is_static_scene(reader: SequenceReader) -> bool:
    """Whether the GT depth of frames STATIC_FRAME_GAP apart is explained by camera motion alone (module
    docstring); the pairs (0, g), (g, 2g), ... and the last frame cover the whole sequence."""
    if reader.poses is None or len(reader) < 2:
        return False
    last = len(reader) - 1
    for i in range(0, last, STATIC_FRAME_GAP):
        j = min(i + STATIC_FRAME_GAP, last)
        fraction = rigid_outlier_fraction(
            reader.depth(i), reader.depth(j), reader.poses[i], reader.poses[j], reader.intrinsics
        )
        if fraction > STATIC_MAX_OUTLIER_FRACTION:
            return False
    return True


def dataset_sequence(
    reader: SequenceReader, scale: int, degradation: Degradation | None = None, name: str | None = None
) -> EvalSequence:
    """A sequence folder as an EvalSequence; ``degradation`` None = "auto" (stored LR, else the default sensor)."""
    name = name or reader.name
    intr = reader.intrinsics
    if intr.width % scale or intr.height % scale:
        raise DatasetError(
            f"{getattr(reader, 'path', name)}: HR size {intr.width}x{intr.height} is not divisible by the scale {scale}"
        )
    stored_lr = degradation is None and reader.lr(0, scale) is not None
    simulate = degradation or SENSORS[DEFAULT_SENSOR]
    if reader.flow(0) is not None:
        flow_source = "flow/"
    elif is_static_scene(reader):
        flow_source = "derived from depth and poses (static scene)"
    else:
        flow_source = None

    def frames() -> Iterator[EvalFrame]:
        previous = None
        for i in range(len(reader)):
            rgb, gt = reader.rgb(i), reader.depth(i)
            if stored_lr:
                lr = reader.lr(i, scale)
            else:
                lr = degrade_numpy(gt, rgb, scale, simulate, seed=zlib.crc32(f"{name}/{i}".encode()))
            flow = None
            if i > 0 and flow_source == "flow/":
                flow = reader.flow(i)
            elif i > 0 and flow_source is not None:
                flow = flow_from_depth_and_poses(previous, reader.poses[i - 1], reader.poses[i], intr)
            previous = gt
            yield EvalFrame(rgb, gt, lr, flow, i / FPS)

    info = {
        "lr": f"stored lr_x{scale}/" if stored_lr else f"simulated {describe_degradation(simulate)}",
        "flow": flow_source,
    }
    return EvalSequence(name, frames(), len(reader), info)


# --- degradation specs: "auto" | "<kind>[:key=value,...]" ---


def parse_degradation(spec: str) -> Degradation | None:
    """None for "auto"; a named sensor ("indoor", "dvsr"); else e.g. "dtof", "area:noise=0.02,dropout=0.05",
    "dtof:range_m=40,bins=512,photons=200" (unset fields as in ``Degradation``)."""
    if spec == "auto":
        return None
    if spec in SENSORS:
        return SENSORS[spec]
    kind, _, params = spec.partition(":")
    if kind not in KINDS:
        raise ValueError(
            f"--lr {spec!r}: unknown kind {kind!r}; expected auto, a sensor ({', '.join(SENSORS)}) or one of {KINDS}"
        )
    values = {}
    for item in filter(None, params.split(",")):
        key, sep, text = item.partition("=")
        if not sep or key not in ("range_m", "bins", "photons", "noise", "dropout"):
            raise ValueError(
                f"--lr {spec!r}: bad parameter {item!r}; expected key=value with key one of "
                f"range_m, bins, photons, noise, dropout"
            )
        try:
            values[key] = int(text) if key == "bins" else float(text)
        except ValueError as err:
            raise ValueError(f"--lr {spec!r}: {key} must be a number, got {text!r}") from err
    try:
        return Degradation(kind=kind, **values)
    except ValueError as err:
        raise ValueError(f"--lr {spec!r}: {err}") from err


def describe_degradation(degradation: Degradation) -> str:
    """A spec string that :func:`parse_degradation` reads back: a sensor's name, else the kind plus the fields that
    differ from the default."""
    for name, sensor in SENSORS.items():
        if degradation == sensor:
            return name
    default = Degradation(kind=degradation.kind)
    params = [
        f"{k}={getattr(degradation, k):g}"
        for k in ("range_m", "bins", "photons", "noise", "dropout")
        if not math.isclose(getattr(degradation, k), getattr(default, k))
    ]
    return degradation.kind + (":" + ",".join(params) if params else "")
