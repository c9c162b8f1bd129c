"""``stdnet bag run``: process a bag offline, as fast as the machine allows, through the node's code.

Input messages are read in log-time order and go through :class:`~stdnet_ros.ros.sync.InputSync` (the node's
synchronizer, with the node's default queue_size, slop and exact_sync) and :class:`~stdnet_ros.pipeline.Pipeline`
(validation, engine, output intrinsics), then into a new bag, stamped and logged with the input frame's stamp:

* ``/depth_sr/image`` (32FC1 metres, NaN invalid), ``/depth_sr/camera_info`` (when the bag has a camera_info),
  ``/depth_sr/points`` (with ``--points``: organized xyzrgb cloud), ``/stdnet_node/status``
  (SuperResolutionStatus; latency_ms is the offline processing time of the frame, queue_drops is always 0).

These are the names the node's outputs get when it runs as ``stdnet_node`` in the root namespace. Nothing is
dropped for speed; the end of the bag flushes the delayed (bidirectional) mode. With a ground-truth topic,
every processed frame needs a ground truth with its stamp, and ``stdnet_ros.evaluation.runner.evaluate`` (the code of
``stdnet eval``) scores the pipeline's outputs and the bicubic and guided-filter baselines into metrics.json,
metrics.md and figures/.
"""

import shutil
import sys
import time
from collections import Counter, deque
from pathlib import Path

import numpy as np
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField

from stdnet_ros.bags import BagError
from stdnet_ros.bags.detect import CAMERA_INFO_TYPE, IMAGE_TYPE, BagTopics, detect_topics
from stdnet_ros.bags.messages import header, message_class, stamp_ns
from stdnet_ros.bags.reader import BagReader
from stdnet_ros.bags.typestore import STATUS_TYPE
from stdnet_ros.bags.writer import BagWriter
from stdnet_ros.depth.cloud_arrays import cloud_buffer
from stdnet_ros.evaluation.runner import BaselineMethod, EvalFrame, EvalSequence, evaluate, markdown_table
from stdnet_ros.messages.camera_info import camera_info_from_intrinsics
from stdnet_ros.messages.decode import decode_depth_m
from stdnet_ros.messages.image import ImageFormatError, depth_m_to_image
from stdnet_ros.messages.pointcloud2 import cloud_to_pointcloud2
from stdnet_ros.model import WeightsError
from stdnet_ros.pipeline import InputError, Output, Pipeline, Topics, load_pipeline, message_kind
from stdnet_ros.ros.parameters import BY_NAME
from stdnet_ros.ros.sync import InputSync

DEPTH_SR_TOPIC = "/depth_sr/image"
DEPTH_SR_INFO_TOPIC = "/depth_sr/camera_info"
POINTS_TOPIC = "/depth_sr/points"
STATUS_TOPIC = "/stdnet_node/status"
BASELINES = ("bicubic", "guided-filter")
NODE_DEFAULTS = {
    name: BY_NAME[name].default
    for name in ("queue_size", "slop", "exact_sync", "max_gap", "output_encoding", "cloud_fields", "precision")
}


class OutputBag:
    """Writes each pipeline :class:`~stdnet_ros.pipeline.Output` as the node publishes it."""

    def __init__(self, writer: BagWriter, pipeline: Pipeline, points: bool):
        self.writer, self.pipeline, self.points = writer, pipeline, points
        self._status_cls = message_class(STATUS_TYPE)
        writer.add_topic(DEPTH_SR_TOPIC, IMAGE_TYPE)
        writer.add_topic(DEPTH_SR_INFO_TOPIC, CAMERA_INFO_TYPE)
        if points:
            writer.add_topic(POINTS_TOPIC, "sensor_msgs/msg/PointCloud2")
        writer.add_topic(STATUS_TOPIC, STATUS_TYPE)
        self.written = 0
        self.invalid: Counter[tuple[str, str]] = Counter()  # (topic, reason) -> dropped frames or camera_infos
        self.sync_drops = 0

    @property
    def invalid_drops(self) -> int:
        return sum(self.invalid.values())

    def drop(self, exc: InputError, warn) -> None:
        """Count an unusable frame or camera_info under its (topic, reason) and warn once per kind."""
        self.invalid[exc.topic, exc.reason] += 1
        warn(f"{exc.topic}:{exc.reason}", f"dropped: {exc}")

    def write(self, out: Output, latency_ms: float) -> None:
        hdr = header(out.stamp_ns, out.frame_id)
        t = out.stamp_ns
        self.writer.write(
            DEPTH_SR_TOPIC, depth_m_to_image(out.depth_m, Image, hdr, NODE_DEFAULTS["output_encoding"]), t
        )
        if out.intrinsics is not None:
            self.writer.write(DEPTH_SR_INFO_TOPIC, camera_info_from_intrinsics(out.intrinsics, CameraInfo, hdr), t)
            if self.points:
                rgb = out.rgb if NODE_DEFAULTS["cloud_fields"] == "xyzrgb" else None
                cloud = cloud_buffer(out.depth_m, out.intrinsics, rgb)
                self.writer.write(POINTS_TOPIC, cloud_to_pointcloud2(cloud, hdr, PointCloud2, PointField), t)
        p = self.pipeline
        status = self._status_cls(
            header=hdr,
            input_stamp=header(out.input_stamp_ns, "").stamp,
            mode=p.mode,
            scale=p.scale,
            delay_frames=p.delay,
            model_ms=out.model_ms,
            latency_ms=latency_ms,
            sync_drops=self.sync_drops,
            queue_drops=0,
            invalid_drops=self.invalid_drops,
            resets=p.resets,
        )
        self.writer.write(STATUS_TOPIC, status, t)
        self.written += 1


class PipelineMethod:
    """The pipeline as an ``evaluation.Method``: frame ``index`` is the message pair in ``pairs[index]``.

    Outputs are written to ``sink`` as they become final; predictions come back in frame order, NaN for a frame
    the pipeline rejected (it publishes nothing for it).
    """

    def __init__(self, pipeline: Pipeline, sink: OutputBag, warn):
        self.pipeline, self.sink, self.warn = pipeline, sink, warn
        self.pairs: dict[int, tuple] = {}
        self._order: deque[tuple[int, int | None, tuple[int, int]]] = deque()  # (index, stamp or None, HR shape)
        self._done: dict[int, np.ndarray] = {}  # stamp -> prediction
        self._started: dict[int, float] = {}  # stamp -> perf_counter when pushed

    def push(self, index: int, frame=None) -> list[tuple[int, np.ndarray]]:
        rgb_msg, depth_msg = self.pairs.pop(index)
        stamp = stamp_ns(rgb_msg.header.stamp)
        shape = (0, 0) if frame is None else frame.gt_m.shape  # without ground truth nothing scores a prediction
        self._started[stamp] = time.perf_counter()
        try:
            outputs = self.pipeline.push(rgb_msg, depth_msg)
        except InputError as exc:
            self.sink.drop(exc, self.warn)
            self._order.append((index, None, shape))
            return self._release([])
        self._order.append((index, stamp, shape))
        return self._release(outputs)

    def flush(self) -> list[tuple[int, np.ndarray]]:
        return self._release(self.pipeline.flush())

    def _release(self, outputs: list[Output]) -> list[tuple[int, np.ndarray]]:
        for out in outputs:
            self.sink.write(out, 1000 * (time.perf_counter() - self._started.pop(out.stamp_ns)))
            self._done[out.stamp_ns] = out.depth_m
        released = []
        while self._order and (self._order[0][1] is None or self._order[0][1] in self._done):
            index, stamp, shape = self._order.popleft()
            released.append((index, np.full(shape, np.nan, np.float32) if stamp is None else self._done.pop(stamp)))
        return released


class StampLookup:
    """Messages of one topic looked up by increasing header stamp (a second pass over the bag, in step)."""

    def __init__(self, path: Path, topic: str):
        self._bag = BagReader(path)
        self._messages = self._bag.messages([topic])
        self._next = None

    def get(self, stamp: int):
        """The message stamped ``stamp``, or None; stamps asked for must not decrease."""
        while self._next is None or stamp_ns(self._next.header.stamp) < stamp:
            item = next(self._messages, None)
            if item is None:
                return None
            self._next = item[2]
        return self._next if stamp_ns(self._next.header.stamp) == stamp else None

    def close(self) -> None:
        self._bag.close()


def synced_pairs(bag: BagReader, topics: BagTopics, pipeline: Pipeline, sink: OutputBag, warn):
    """(rgb, depth) message pairs in the order the node's synchronizer emits them; camera_infos go to the pipeline
    as they come. Sets ``sink.sync_drops``; BagError if no pair matched."""
    pairs = deque()
    sync = InputSync(
        2,
        lambda rgb, depth: pairs.append((rgb, depth)),
        queue_size=NODE_DEFAULTS["queue_size"],
        slop=NODE_DEFAULTS["slop"],
        exact_sync=NODE_DEFAULTS["exact_sync"],
    )
    stamps = {topics.rgb: [], topics.depth: []}
    inputs = [t for t in (topics.rgb, topics.depth, topics.rgb_info, topics.depth_info) if t]
    for topic, _, msg in bag.messages(inputs):
        if topic in stamps:
            stamps[topic].append(stamp_ns(msg.header.stamp))
            sync.push(msg, 0 if topic == topics.rgb else 1)
            sink.sync_drops = sync.dropped
        else:
            try:
                pipeline.set_camera_info(msg, "rgb" if topic == topics.rgb_info else "depth")
            except InputError as exc:
                sink.drop(exc, warn)
        while pairs:
            yield pairs.popleft()
    sink.sync_drops = sync.dropped + sync.pending
    if sync.matched == 0:
        spans = "; ".join(
            f"{t}: {len(s)} stamps" + (f" from {min(s) / 1e9:.3f} to {max(s) / 1e9:.3f} s" if s else "")
            for t, s in stamps.items()
        )
        raise BagError(
            f"{bag.path}: no RGB and depth message pair has stamps within {NODE_DEFAULTS['slop']} s "
            f"(no overlap): {spans}"
        )


def eval_frames(bag: BagReader, topics: BagTopics, pairs, method: PipelineMethod):
    """EvalFrames of the synced pairs with their ground truth; each pair is handed to ``method`` by index.
    A pair whose images do not convert is dropped and counted as the pipeline would (it is not scored); a
    missing or unreadable ground truth is a BagError (the scores would be wrong)."""
    gts = StampLookup(bag.path, topics.gt)
    index = 0
    try:
        for rgb_msg, depth_msg in pairs:
            stamp = stamp_ns(rgb_msg.header.stamp)
            try:
                rgb = method.pipeline.convert_rgb(rgb_msg)
                lr_m = np.nan_to_num(method.pipeline.convert_depth(depth_msg), nan=0.0)
            except InputError as exc:
                method.sink.drop(exc, method.warn)
                continue
            gt_msg = gts.get(stamp)
            if gt_msg is None:
                raise BagError(
                    f"{bag.path}: ground truth {topics.gt} has no message stamped {stamp / 1e9:.9f} s "
                    f"(frame {index} of {topics.rgb}); every frame needs one to be scored"
                )
            try:
                gt_m = np.nan_to_num(decode_depth_m(gt_msg, topics.gt), nan=0.0)
            except ImageFormatError as exc:
                raise BagError(f"{bag.path}: frame {index}: {exc}") from exc
            method.pairs[index] = (rgb_msg, depth_msg)
            yield EvalFrame(rgb=rgb, gt_m=gt_m, lr_m=lr_m, flow=None, stamp=stamp / 1e9)
            index += 1
    finally:
        gts.close()


def drop_list(invalid: Counter) -> str:
    """'topic (reason) n, ...' of the invalid drops, or 'no frame was invalid'."""
    return ", ".join(f"{t} ({r}) {n}" for (t, r), n in sorted(invalid.items())) or "no frame was invalid"


def run_bag(
    path: Path,
    out: Path,
    weights: str,
    mode: str = "causal",
    scale: int = 4,
    device: str = "auto",
    points: bool = False,
    storage: str = "mcap",
    rgb_topic: str | None = None,
    depth_topic: str | None = None,
    gt_topic: str | None = None,
    eval_out: Path | None = None,
) -> dict:
    """Process the bag at ``path`` into a new bag ``out``; returns a summary (and ``report``: the metrics.json
    dict when the bag has a ground truth, written to ``eval_out`` or ``OUT-eval``)."""
    warned = set()

    def warn(key: str, message: str) -> None:
        if key not in warned:
            warned.add(key)
            print(f"warning: {message}", file=sys.stderr)

    start = time.perf_counter()
    with BagReader(path) as bag:
        topics = detect_topics(bag, rgb_topic, depth_topic, gt_topic)
        pipeline = load_pipeline(
            weights,
            scale,
            mode,
            device,
            precision=NODE_DEFAULTS["precision"],
            max_gap=NODE_DEFAULTS["max_gap"],
            topics=Topics(
                topics.rgb, topics.depth, topics.rgb_info or "rgb/camera_info", topics.depth_info or "depth/camera_info"
            ),
            warn=lambda message: warn(message_kind(message), message),
        )
        writer = BagWriter(out, storage)  # fails if OUT exists: never delete what we did not create
        try:
            with writer:
                sink = OutputBag(writer, pipeline, points)
                method = PipelineMethod(pipeline, sink, warn)
                pairs = synced_pairs(bag, topics, pipeline, sink, warn)
                report = None
                if topics.gt is None:
                    count = 0
                    for index, pair in enumerate(pairs):
                        method.pairs[index] = pair
                        method.push(index)
                        count = index + 1
                    method.flush()
                else:
                    eval_out = eval_out or out.with_name(out.name + "-eval")
                    sequence = EvalSequence(
                        path.name,
                        eval_frames(bag, topics, pairs, method),
                        bag.count(topics.rgb),
                        {"bag": str(path), "gt_topic": topics.gt},
                    )
                    methods = {f"stdnet-{mode}": method, **{b: BaselineMethod(b, scale) for b in BASELINES}}
                    report = evaluate([sequence], methods, scale, eval_out, {"weights": weights, "mode": mode})
                    count = report["sequences"][path.name]["frames"]
                if sink.written == 0:
                    raise BagError(
                        f"{path}: every synchronised frame was dropped, nothing to write ({drop_list(sink.invalid)})"
                    )
        except BagError:
            shutil.rmtree(out, ignore_errors=True)
            raise
    return {
        "topics": topics,
        "frames": count,
        "written": sink.written,
        "invalid_drops": sink.invalid_drops,
        "invalid": {f"{topic} ({reason})": n for (topic, reason), n in sorted(sink.invalid.items())},
        "sync_drops": sink.sync_drops,
        "seconds": time.perf_counter() - start,
        "report": report,
        "eval_out": eval_out if report else None,
    }


def run(args) -> int:
    try:
        summary = run_bag(
            args.bag,
            args.out,
            args.weights,
            args.mode,
            args.scale,
            args.device,
            args.points,
            args.storage,
            args.rgb_topic,
            args.depth_topic,
            args.gt_topic,
            args.eval_out,
        )
    except WeightsError as err:
        print(f"stdnet bag run: error: {err}", file=sys.stderr)
        return 2
    t = summary["topics"]
    print(
        f"inputs: rgb {t.rgb}, depth {t.depth}, camera_info {t.rgb_info or '-'} / {t.depth_info or '-'}, "
        f"ground truth {t.gt or '-'}"
    )
    print(
        f"{summary['frames']} synchronised frames -> {summary['written']} outputs in {args.out} "
        f"({summary['invalid_drops']} invalid, {summary['sync_drops']} unsynchronised messages) in "
        f"{summary['seconds']:.1f} s ({summary['frames'] / summary['seconds']:.1f} frames/s)"
    )
    if summary["invalid"]:
        print("dropped: " + ", ".join(f"{kind}: {n}" for kind, n in summary["invalid"].items()))
    if summary["report"] is not None:
        print(markdown_table(summary["report"]).split("\n## ")[0].rstrip())
        print(f"written: {summary['eval_out']}/metrics.json, metrics.md, figures/")
    return 0
