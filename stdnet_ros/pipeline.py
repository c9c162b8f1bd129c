"""The per-frame work of the node and the bag tools, without ROS: one RGB + LR depth pair in, HR depth out.

:class:`Pipeline` takes Image and CameraInfo *messages* but reads only their fields (through
:mod:`stdnet_ros.messages.image` and :mod:`stdnet_ros.messages.camera_info`, neither of which imports rclpy), so
rclpy messages and ``rosbags`` messages both work. Per frame it

1. converts the messages to arrays (RGB (H, W, 3) uint8; depth (h, w) float32 metres, NaN invalid),
2. validates them and their metadata (header stamp and frame_id, sizes, scale, camera_info sizes, at least one valid
   depth pixel),
3. chooses the output intrinsics: the RGB camera_info when received, else the depth camera_info scaled by s
   with the pixel-centre rule (cx' = s (cx + 0.5) - 0.5),
4. runs the :class:`~stdnet_ros.streaming.StreamingEngine` and returns every :class:`Output` that became final.

A frame it cannot use raises :class:`InputError` naming the topic, field and expected value; nothing has changed
then, so the caller drops the frame and goes on. Conditions that do not stop the frame (RGB and depth frame_id
differ, no camera_info yet, distortion ignored, a temporal reset) go to the ``warn(message)`` callback.

Cloud arrays: ``stdnet_ros.depth.cloud_arrays.cloud_buffer(out.depth_m, out.intrinsics, out.rgb)`` (the node fills its
reused PointCloud2 with the same function through ``stdnet_ros.messages.pointcloud2.CloudMessage``).
"""

import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from stdnet_ros.depth.geometry import Intrinsics
from stdnet_ros.depth.invalid_depth import outside_range_to_nan
from stdnet_ros.messages.camera_info import CameraInfoError, intrinsics_from_camera_info
from stdnet_ros.messages.decode import decode_depth_m, decode_rgb
from stdnet_ros.messages.image import ImageFormatError
from stdnet_ros.model import load_weights
from stdnet_ros.shipped import resolve_weights
from stdnet_ros.streaming import StreamingEngine

MODES = ("causal", "bidirectional")
MAX_FUTURE_S = 300.0  # a frame stamped further ahead of the caller's clock is dropped (unsynchronised clocks)


class InputError(ValueError):
    """A frame or camera_info that cannot be used. ``topic`` is the offending input, ``reason`` a short label
    (format, size, all_invalid, camera_info, stamp, frame_id) for counting; the message names the field and the
    expected value."""

    def __init__(self, topic: str, reason: str, message: str):
        super().__init__(message)
        self.topic = topic
        self.reason = reason


@dataclass(frozen=True)
class Topics:
    """Input names used in messages (the node passes its resolved topic names)."""

    rgb: str = "rgb/image"
    depth: str = "depth/image"
    rgb_info: str = "rgb/camera_info"
    depth_info: str = "depth/camera_info"


@dataclass(frozen=True)
class Output:
    """One final HR frame. ``stamp_ns`` and ``frame_id`` are those of the input frame it describes (also in
    delayed mode); ``input_stamp_ns`` is the stamp of the frame whose arrival finalised it."""

    stamp_ns: int
    frame_id: str
    depth_m: np.ndarray  # (H, W) float32 metres, NaN invalid
    rgb: np.ndarray  # (H, W, 3) uint8, the RGB of the same frame (cloud colours)
    intrinsics: Intrinsics | None  # None: no camera_info received yet
    input_stamp_ns: int
    model_ms: float  # engine time of the push that finalised this frame


@dataclass(frozen=True)
class _Pending:
    stamp_s: float
    stamp_ns: int
    frame_id: str
    rgb: np.ndarray
    intrinsics: Intrinsics | None


def message_kind(message: str) -> str:
    """``message`` with every number replaced by '#': the same problem with other sizes or stamps is one kind
    (the node throttles its log lines per kind, bag run warns once per kind)."""
    return re.sub(r"\d+(\.\d+)?", "#", message)


def stamp_to_ns(stamp) -> int:
    """Integer nanoseconds of a builtin_interfaces/Time (fields sec, nanosec)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class Pipeline:
    """Stateful per-frame super-resolution of one RGB + LR depth stream; see the module docstring."""

    def __init__(
        self, engine: StreamingEngine, topics: Topics = Topics(), warn: Callable[[str], None] = lambda message: None
    ):
        self.engine = engine
        self.topics = topics
        self._warn = warn
        self._infos: dict[str, Intrinsics | None] = {"rgb": None, "depth": None}
        self._warned_no_info = False
        self._pending: deque[_Pending] = deque()  # pushed, not yet output, in push order
        self._last: tuple[int, tuple[int, int]] | None = None  # (stamp ns, (H, W)) of the last push
        self._depth_range_m = (0.0, 0.0)  # (min, max) metres of published depth; max 0: no upper limit

    @property
    def scale(self) -> int:
        return self.engine.scale

    @property
    def delay(self) -> int:
        """Frames between the newest input and its output (0 in causal mode)."""
        return self.engine.delay

    @property
    def mode(self) -> str:
        """ "causal" (no delay) or "delayed" (bidirectional model, ``delay`` frames late)."""
        return "delayed" if self.delay else "causal"

    @property
    def resets(self) -> int:
        """Automatic resets of the temporal state so far (stamp backwards, gap > max_gap, size change)."""
        return self.engine.resets

    @property
    def max_gap(self) -> float:
        return self.engine.max_gap

    @max_gap.setter
    def max_gap(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(f"max_gap: expected a positive number of seconds, got {seconds}")
        self.engine.max_gap = seconds

    @property
    def depth_range_m(self) -> tuple[float, float]:
        """(min, max) metres: output depths outside are NaN (max 0: no upper limit); the cloud follows."""
        return self._depth_range_m

    @depth_range_m.setter
    def depth_range_m(self, limits: tuple[float, float]) -> None:
        low, high = (float(v) for v in limits)
        if not (low >= 0 and high >= 0 and (high == 0 or high > low)):
            raise ValueError(
                f"min_depth / max_depth: expected 0 <= min_depth < max_depth, or max_depth 0 (no upper limit), "
                f"got {low} / {high} m"
            )
        self._depth_range_m = (low, high)

    def set_camera_info(self, msg, camera: str) -> None:
        """Use ``msg`` as the latest CameraInfo of ``camera`` ("rgb": HR, or "depth": LR).

        An unusable one raises :class:`InputError` and clears that camera's intrinsics (never keep stale ones).
        """
        topic = self.topics.rgb_info if camera == "rgb" else self.topics.depth_info
        try:
            intr = intrinsics_from_camera_info(msg, topic)
        except CameraInfoError as exc:
            self._infos[camera] = None
            raise InputError(topic, "camera_info", str(exc)) from exc
        if any(float(d) != 0.0 for d in msg.d):
            self._warn(
                f"{topic}: distortion_model {msg.distortion_model!r} with non-zero d={list(msg.d)}; the output and "
                "the cloud use K only, as for rectified images (subscribe to image_rect topics)"
            )
        self._infos[camera] = intr
        self._warned_no_info = False

    def push(self, rgb_msg, depth_msg, now_ns: int | None = None) -> list[Output]:
        """Process one synchronised RGB (HR) + depth (LR) Image pair; the outputs that became final, oldest first.
        ``now_ns``: the caller's clock (the node's ROS time), or None where there is none (offline bag tools).

        Raises :class:`InputError` (state unchanged) for a frame that cannot be used.
        """
        stamp_ns = stamp_to_ns(rgb_msg.header.stamp)
        self._check_header(stamp_ns, rgb_msg.header.frame_id, now_ns)
        rgb, depth = self.convert_rgb(rgb_msg), self.convert_depth(depth_msg)
        self._check_sizes(rgb.shape[:2], depth.shape)
        if not np.isfinite(depth).any():
            raise InputError(
                self.topics.depth,
                "all_invalid",
                f"{self.topics.depth}: every pixel is invalid (0, NaN, inf or negative); expected at "
                "least one depth > 0 m",
            )
        intr = self._output_intrinsics(rgb.shape[:2], depth.shape)
        frame_id = rgb_msg.header.frame_id
        if depth_msg.header.frame_id != frame_id:
            self._warn(
                f"{self.topics.depth}: header.frame_id {depth_msg.header.frame_id!r} differs "
                f"from {self.topics.rgb} header.frame_id {frame_id!r}; outputs use {frame_id!r} (the depth "
                "must be registered to the RGB camera)"
            )
        stamp_s = stamp_ns / 1e9
        reason = self._discontinuity(stamp_ns, rgb.shape[:2])
        resets = self.engine.resets
        start = time.perf_counter()
        results = self.engine.push(rgb, depth, stamp_s)
        model_ms = 1000 * (time.perf_counter() - start)
        if self.engine.resets != resets:
            self._warn(f"{self.topics.rgb}: {reason}: temporal state reset")
        self._last = (stamp_ns, rgb.shape[:2])
        self._pending.append(_Pending(stamp_s, stamp_ns, frame_id, rgb, intr))
        return self._outputs(results, stamp_ns, model_ms)

    def flush(self) -> list[Output]:
        """Finalise every pending frame as the end of the stream (delayed mode: the last ``delay`` frames), then
        reset. For the end of a recording; a live stream never ends."""
        start = time.perf_counter()
        results = self.engine.flush()
        model_ms = 1000 * (time.perf_counter() - start)
        outputs = self._outputs(results, self._pending[-1].stamp_ns if self._pending else 0, model_ms)
        self.reset()
        return outputs

    def reset(self) -> None:
        """Forget the stream and its pending frames (camera_info is kept)."""
        self.engine.reset()
        self._pending.clear()
        self._last = None

    def convert_rgb(self, msg) -> np.ndarray:
        """(H, W, 3) uint8 of an RGB Image or CompressedImage; InputError (reason "format") naming the field
        otherwise."""
        return self._convert(decode_rgb, msg, self.topics.rgb)

    def convert_depth(self, msg) -> np.ndarray:
        """(h, w) float32 metres (NaN invalid) of a depth Image or compressedDepth CompressedImage; InputError
        (reason "format") otherwise."""
        return self._convert(decode_depth_m, msg, self.topics.depth)

    # --- internals ---
    @staticmethod
    def _convert(convert, msg, topic: str) -> np.ndarray:
        try:
            return convert(msg, topic)
        except ImageFormatError as exc:
            raise InputError(topic, "format", str(exc)) from exc

    def _check_header(self, stamp_ns: int, frame_id: str, now_ns: int | None) -> None:
        """The pair's header (the RGB one; the synchronizer matched the depth to it) can label an output:
        a frame_id, a stamp that is set, new, and not far ahead of ``now_ns``."""
        topic = self.topics.rgb
        if not frame_id:
            raise InputError(
                topic, "frame_id", f"{topic}: header.frame_id is empty; expected the RGB camera's optical frame"
            )
        if stamp_ns == 0:
            raise InputError(topic, "stamp", f"{topic}: header.stamp is 0 (unset); expected the capture time")
        if self._last is not None and stamp_ns == self._last[0]:
            raise InputError(
                topic,
                "stamp",
                f"{topic}: header.stamp {stamp_ns // 10**9}.{stamp_ns % 10**9:09d} s repeats the previous frame's; "
                "expected a new capture time (a duplicated message?)",
            )
        if now_ns is not None and stamp_ns - now_ns > MAX_FUTURE_S * 1e9:
            raise InputError(
                topic,
                "stamp",
                f"{topic}: header.stamp {stamp_ns / 1e9:.3f} s is {(stamp_ns - now_ns) / 1e9:.0f} s ahead of this "
                f"node's clock; expected at most {MAX_FUTURE_S:.0f} s ahead (are the clocks synchronised?)",
            )

    def _check_sizes(self, rgb_hw: tuple[int, int], depth_hw: tuple[int, int]) -> None:
        (h, w), s = rgb_hw, self.scale
        if h % s or w % s:
            raise InputError(
                self.topics.rgb,
                "size",
                f"{self.topics.rgb}: size {w}x{h} (width x height) is not a multiple of the scale {s}",
            )
        if depth_hw != (h // s, w // s):
            raise InputError(
                self.topics.depth,
                "size",
                f"{self.topics.depth}: size {depth_hw[1]}x{depth_hw[0]} (width x height) != "
                f"{self.topics.rgb} size {w}x{h} / scale {s}; expected {w // s}x{h // s}",
            )

    def _output_intrinsics(self, rgb_hw: tuple[int, int], depth_hw: tuple[int, int]) -> Intrinsics | None:
        """RGB camera_info if any, else depth camera_info scaled by s; each must match its image's size."""
        rgb_info, depth_info = self._infos["rgb"], self._infos["depth"]
        for intr, topic, (h, w), image in (
            (rgb_info, self.topics.rgb_info, rgb_hw, self.topics.rgb),
            (depth_info, self.topics.depth_info, depth_hw, self.topics.depth),
        ):
            if intr is not None and (intr.height, intr.width) != (h, w):
                raise InputError(
                    topic,
                    "camera_info",
                    f"{topic}: size {intr.width}x{intr.height} (width x "
                    f"height) != {image} size {w}x{h}; expected {w}x{h}",
                )
        if rgb_info is not None:
            return rgb_info
        if depth_info is not None:
            return depth_info.scaled(self.scale)
        if not self._warned_no_info:
            self._warned_no_info = True
            self._warn(
                f"no camera_info yet on {self.topics.rgb_info} or "
                f"{self.topics.depth_info}: publishing depth only; the cloud and camera_info wait for one"
            )
        return None

    def _outputs(self, results: list, input_stamp_ns: int, model_ms: float) -> list[Output]:
        """Engine results matched to their pending frames: results come in push order (after a reset's flush, all
        pending frames), so each is the oldest pending frame."""
        outputs = []
        for result_stamp, hr_depth in results:
            frame = self._pending.popleft()
            if frame.stamp_s != result_stamp:
                raise RuntimeError(f"engine output stamp {result_stamp} != pending frame stamp {frame.stamp_s}")
            depth_m = outside_range_to_nan(hr_depth, *self._depth_range_m)
            outputs.append(
                Output(frame.stamp_ns, frame.frame_id, depth_m, frame.rgb, frame.intrinsics, input_stamp_ns, model_ms)
            )
        return outputs

    def _discontinuity(self, stamp_ns: int, rgb_hw: tuple[int, int]) -> str:
        """Why the engine would reset on this frame (its own rule: stamp not after the last, gap, size)."""
        if self._last is None:
            return "first frame"
        stamp_s, last_s, last_hw = stamp_ns / 1e9, self._last[0] / 1e9, self._last[1]
        if stamp_s <= last_s:
            return f"header.stamp {stamp_s:.6f} s is not after the previous {last_s:.6f} s (bag loop?)"
        if stamp_s - last_s > self.max_gap:
            return f"header.stamp jumped {stamp_s - last_s:.3f} s > max_gap {self.max_gap} s"
        return f"size changed from {last_hw[1]}x{last_hw[0]} to {rgb_hw[1]}x{rgb_hw[0]}"


def load_pipeline(
    weights: str,
    scale: int,
    mode: str,
    device: str = "auto",
    precision: str = "fp32",
    max_gap: float = 0.5,
    topics: Topics = Topics(),
    warn: Callable[[str], None] = lambda message: None,
) -> Pipeline:
    """A Pipeline around the model in ``weights`` (a .safetensors path or a shipped preset name).

    Raises ``WeightsError`` (naming the file) for a missing, malformed or mismatching (scale, mode) file, and
    ValueError for a bad mode, device, precision or max_gap.
    """
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    model = load_weights(resolve_weights(weights, scale, mode), device="cpu", scale=scale, directions=mode)
    return Pipeline(StreamingEngine(model, device=device, precision=precision, max_gap=max_gap), topics, warn)
