"""``stdnet demo``: the whole live chain on this machine, from a bag to a quality table.

1. the sample bag (``stdnet bag sample``) is written to OUT/sample_bag unless it exists (or ``--bag`` is given);
2. ``stdnet_node`` starts in its own process with the weights (``use_sim_time``, inputs remapped to the bag's
   topics, config/fastdds.xml as its Fast DDS profile unless FASTDDS_DEFAULT_PROFILES_FILE is set);
3. ``stdnet bag play --clock`` replays the bag's RGB, depth and camera_info topics over DDS in a second process;
4. this process records what the node publishes (depth_sr/image, camera_info, points, status) into OUT/output_bag
   with rclpy subscriptions, and notes when each input RGB and each output arrives; the player starts only once
   its RGB publisher has matched both RGB readers (the node's and this process's), and the chain stops the node
   only once every output topic holds every published frame;
5. the node's outputs are scored against the bag's ground truth next to the bicubic and guided-filter baselines on
   the same frames (``stdnet_ros.evaluation.runner``: OUT/eval/metrics.json, metrics.md, figures/), and the latency
   (input arrival -> output arrival here, wall clock) and model time (the node's status) are summarised.

Exit 0 only when the chain ran and every input frame is accounted for: published, or counted by the node as
dropped (queue, invalid, unsynchronised) or still in the delayed window of bidirectional mode.
"""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message

from stdnet_ros.bags import BagError
from stdnet_ros.bags.detect import BagTopics, detect_topics
from stdnet_ros.bags.messages import message_class, stamp_ns
from stdnet_ros.bags.play import FASTDDS_PROFILE
from stdnet_ros.bags.reader import BagReader
from stdnet_ros.bags.record import Recorder, header_stamp_ns
from stdnet_ros.bags.run import BASELINES, DEPTH_SR_INFO_TOPIC, DEPTH_SR_TOPIC, POINTS_TOPIC, STATUS_TOPIC, StampLookup
from stdnet_ros.bags.sample import write_sample_bag
from stdnet_ros.bags.typestore import STATUS_TYPE
from stdnet_ros.bags.writer import BagWriter
from stdnet_ros.evaluation.runner import BaselineMethod, EvalFrame, EvalSequence, evaluate, markdown_table
from stdnet_ros.messages.image import image_to_depth_m, image_to_rgb
from stdnet_ros.model import WeightsError
from stdnet_ros.model.weights import read_metadata
from stdnet_ros.ros import InterfacesNotBuiltError, interfaces_env
from stdnet_ros.shipped import resolve_weights

CONFIG = Path(__file__).resolve().parents[2] / "config" / "stdnet.yaml"
OUTPUTS = {
    DEPTH_SR_TOPIC: "sensor_msgs/msg/Image",
    DEPTH_SR_INFO_TOPIC: "sensor_msgs/msg/CameraInfo",
    POINTS_TOPIC: "sensor_msgs/msg/PointCloud2",
    STATUS_TOPIC: STATUS_TYPE,
}
START_TIMEOUT_S = 120.0  # node start-up (imports, weights) and DDS discovery
IDLE_TIMEOUT_S = 15.0  # after the replay: give up waiting when no output came for this long


def child_env() -> dict[str, str]:
    """Environment of the node and player processes: the message build on their paths, the large-data profile."""
    env = interfaces_env()
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(FASTDDS_PROFILE))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def node_command(weights: str, mode: str, scale: int, device: str, remaps: dict[str, str], sim_time: bool) -> list[str]:
    """``stdnet_node`` (as ``python -m``, the same entry point) with config/stdnet.yaml, these model parameters and
    ``remaps`` (node topic -> topic)."""
    command = [
        sys.executable,
        "-m",
        "stdnet_ros.ros.node",
        "--ros-args",
        "--params-file",
        str(CONFIG),
        "-p",
        f"weights:={weights}",
        "-p",
        f"mode:={mode}",
        "-p",
        f"scale:={scale}",
        "-p",
        f"device:={device}",
        "-p",
        f"use_sim_time:={str(sim_time).lower()}",
    ]
    for name, topic in remaps.items():
        command += ["-r", f"{name}:={topic}"]
    return command


def spread(stats: dict) -> str:
    """One line of a percentiles() dict; 'none measured' when it holds no samples."""
    if not stats["count"]:
        return "none measured"
    return f"p50 {stats['p50']:.1f}  p95 {stats['p95']:.1f}  max {stats['max']:.1f}"


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "max": float(max(values)),
    }


class Chain:
    """The recording side of the demo: rclpy node, output bag, input/output arrival times, last status."""

    def __init__(self, out_bag: Path, input_topic: str):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("stdnet_demo_recorder", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.writer = BagWriter(out_bag)
        self.writer.open()
        self.recorder = Recorder(self.node, self.writer, OUTPUTS, self._on_output, depth=50)
        self.input_arrival: dict[int, float] = {}
        self.output_arrival: dict[int, float] = {}
        self.model_ms: list[float] = []
        self.status = None
        self._status_cls = message_class(STATUS_TYPE)
        self.node.create_subscription(
            message_class("sensor_msgs/msg/Image"), input_topic, self._on_input, QoSProfile(depth=50), raw=True
        )
        self.last_activity = time.monotonic()

    def _on_input(self, cdr: bytes) -> None:
        self.input_arrival[header_stamp_ns(cdr)] = time.monotonic()

    def _on_output(self, topic: str, stamp: int, cdr: bytes, received: float) -> None:
        self.last_activity = received
        if topic == DEPTH_SR_TOPIC:
            self.output_arrival[stamp] = received
        elif topic == STATUS_TOPIC:
            self.status = deserialize_message(cdr, self._status_cls)
            self.model_ms.append(self.status.model_ms)

    def drained(self) -> bool:
        """Whether every output topic holds as many messages as depth_sr/image (each published frame is complete:
        its camera_info, cloud and status came too)."""
        return len(set(self.recorder.counts.values())) == 1

    def settled(self, frames: int) -> bool:
        """Whether all ``frames`` input frames are published or counted by the node's last status and every output
        topic is drained, or no output came for IDLE_TIMEOUT_S."""
        status = self.status
        counted = status.delay_frames + status.queue_drops + status.invalid_drops if status else 0
        return (
            self.drained() and len(self.output_arrival) + counted >= frames
        ) or time.monotonic() - self.last_activity > IDLE_TIMEOUT_S

    def spin_until(self, done, timeout: float, alive=()) -> bool:
        """Spin until ``done()`` (True), ``timeout`` s pass or a process in ``alive`` exits (False)."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline or any(p.poll() is not None for p in alive):
                return False
            self.executor.spin_once(timeout_sec=0.01)
        return True

    def close(self) -> None:
        self.writer.close()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


class RecordedMethod:
    """An ``evaluation.Method`` answering each frame with the node's recorded output (set by the frame source)."""

    def __init__(self):
        self.current = None

    def push(self, index: int, frame) -> list[tuple[int, np.ndarray]]:
        return [(index, self.current)]

    def flush(self) -> list:
        return []


def published_frames(bag: BagReader, topics: BagTopics, out_bag: Path, method: RecordedMethod):
    """EvalFrames of the input frames the node published, in order; ``method.current`` is the node's output."""
    lookups = {
        name: StampLookup(path, topic)
        for name, path, topic in (
            ("depth", bag.path, topics.depth),
            ("gt", bag.path, topics.gt),
            ("sr", out_bag, DEPTH_SR_TOPIC),
        )
    }
    try:
        for _, _, rgb_msg in bag.messages([topics.rgb]):
            stamp = stamp_ns(rgb_msg.header.stamp)
            sr_msg = lookups["sr"].get(stamp)
            if sr_msg is None:
                continue
            depth_msg, gt_msg = lookups["depth"].get(stamp), lookups["gt"].get(stamp)
            if depth_msg is None or gt_msg is None:
                raise BagError(
                    f"{bag.path}: no {topics.depth if depth_msg is None else topics.gt} message stamped "
                    f"like {topics.rgb} at {stamp / 1e9:.9f} s (the demo needs equal stamps)"
                )
            method.current = image_to_depth_m(sr_msg, DEPTH_SR_TOPIC)
            yield EvalFrame(
                rgb=image_to_rgb(rgb_msg, topics.rgb),
                gt_m=np.nan_to_num(image_to_depth_m(gt_msg, topics.gt), nan=0.0),
                lr_m=np.nan_to_num(image_to_depth_m(depth_msg, topics.depth), nan=0.0),
                flow=None,
                stamp=stamp / 1e9,
            )
    finally:
        for lookup in lookups.values():
            lookup.close()


def score(
    bag: BagReader,
    topics: BagTopics,
    out_bag: Path,
    eval_dir: Path,
    method_name: str,
    scale: int,
    model_ms: list[float],
    published: int,
) -> dict:
    """metrics.json / metrics.md / figures/ of the published frames; the node's ms/frame is its mean model time."""
    method = RecordedMethod()
    sequence = EvalSequence(
        bag.path.name,
        published_frames(bag, topics, out_bag, method),
        published,
        {"bag": str(bag.path), "gt_topic": topics.gt, "frames": "published by stdnet_node"},
    )
    methods = {method_name: method, **{b: BaselineMethod(b, scale) for b in BASELINES}}
    report = evaluate([sequence], methods, scale, eval_dir, {"source": "stdnet demo: outputs recorded over DDS"})
    mean_model_ms = float(np.mean(model_ms)) if model_ms else None
    for result in (report["methods"][method_name]["mean"], *report["methods"][method_name]["sequences"].values()):
        result["ms_per_frame"] = mean_model_ms  # the node's model time, not the lookup of a recorded message
    (eval_dir / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    (eval_dir / "metrics.md").write_text(markdown_table(report))
    return report


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> int:
    """SIGINT (rclpy shuts down cleanly), then kill after ``timeout`` s; the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def run(args) -> int:
    try:
        return run_chain(args)
    except (BagError, WeightsError, InterfacesNotBuiltError) as err:
        print(f"stdnet demo: error: {err}", file=sys.stderr)
        return 2


def run_chain(args) -> int:
    start = time.monotonic()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    bag_path = args.bag or out / "sample_bag"
    if not bag_path.exists():
        count = write_sample_bag(bag_path, frames=args.frames, scale=args.scale)
        print(f"wrote the sample bag {bag_path} ({count} frames, {time.monotonic() - start:.1f} s)")
    weights = resolve_weights(args.weights, args.scale, args.mode)
    config, _ = read_metadata(weights)  # checked here: a node whose configure fails would only time out
    if (config.scale, config.directions) != (args.scale, args.mode):
        raise WeightsError(
            f"weights file {weights}: a x{config.scale} {config.directions} model, the demo runs "
            f"x{args.scale} {args.mode} (--scale, --mode)"
        )
    out_bag, eval_dir = out / "output_bag", out / "eval"
    for old in (out_bag, eval_dir):  # this command's own outputs of an earlier run
        shutil.rmtree(old, ignore_errors=True)
    with BagReader(bag_path) as bag:
        topics = detect_topics(bag)
        if topics.gt is None:
            raise BagError(f"{bag_path}: no ground-truth depth topic (a depth Image at the RGB size) to score against")
        frames = bag.count(topics.rgb)
        played = [t for t in (topics.rgb, topics.depth, topics.rgb_info, topics.depth_info) if t]
        env = child_env()
        chain = Chain(out_bag, topics.rgb)
        node_log, play_log = (out / "node.log").open("w"), (out / "play.log").open("w")
        remaps = {
            name: topic
            for name, topic in (
                ("rgb/image", topics.rgb),
                ("depth/image", topics.depth),
                ("rgb/camera_info", topics.rgb_info),
                ("depth/camera_info", topics.depth_info),
            )
            if topic
        }
        node = subprocess.Popen(
            node_command(str(weights), args.mode, args.scale, args.device, remaps, True),
            env=env,
            stdout=node_log,
            stderr=subprocess.STDOUT,
        )
        player = None
        try:
            if not chain.spin_until(chain.recorder.matched, START_TIMEOUT_S, alive=[node]):
                raise BagError(
                    f"{bag_path}: stdnet_node did not come up within {START_TIMEOUT_S:g} s (see {out / 'node.log'})"
                )
            print(
                f"stdnet_node is up ({time.monotonic() - start:.1f} s); replaying {frames} frames at "
                f"{args.rate:g}x with /clock"
            )
            player = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "stdnet_ros.cli",
                    "bag",
                    "play",
                    str(bag_path),
                    "--rate",
                    str(args.rate),
                    "--clock",
                    "--wait-for-subscribers",
                    str(START_TIMEOUT_S),
                    "--subscribers",
                    f"{topics.rgb}=2",
                    "--topics",
                    *played,
                ],
                env=env,
                stdout=play_log,
                stderr=subprocess.STDOUT,
            )
            chain.spin_until(lambda: player.poll() is not None, START_TIMEOUT_S + frames / 30 / args.rate + 30)

            chain.spin_until(lambda: chain.settled(frames), IDLE_TIMEOUT_S + 60, alive=[node])
        finally:
            if player is not None:
                stop(player)
            node_status = stop(node)
            chain.close()
            node_log.close()
            play_log.close()
        if player.returncode != 0:
            raise BagError(f"{bag_path}: the replay failed (exit {player.returncode}, see {out / 'play.log'})")
        return report(args, bag, topics, chain, frames, out_bag, eval_dir, node_status, time.monotonic() - start)


def report(
    args, bag, topics, chain: Chain, frames: int, out_bag: Path, eval_dir: Path, node_status: int, elapsed: float
) -> int:
    """Print and write (OUT/summary.json) the accounting, quality and latency; the exit status."""
    status = chain.status
    published = len(chain.output_arrival)
    drops = (
        {"queue": status.queue_drops, "invalid": status.invalid_drops, "unsynchronised_messages": status.sync_drops}
        if status
        else {}
    )
    pending = status.delay_frames if status else 0
    unexplained = frames - published - pending - drops.get("queue", 0) - drops.get("invalid", 0)
    # a frame lost before pairing leaves at least one unsynchronised message behind
    accounted = published > 0 and 0 <= unexplained <= drops.get("unsynchronised_messages", 0)
    latency = [1000 * (t - chain.input_arrival[s]) for s, t in chain.output_arrival.items() if s in chain.input_arrival]
    summary = {
        "frames": frames,
        "published": published,
        "dropped": drops,
        "pending_delayed": pending,
        "accounted": accounted,
        "latency_ms": percentiles(latency),
        "model_ms": percentiles(chain.model_ms),
        "recorded": chain.recorder.counts,
        "node_exit": node_status,
        "rate": args.rate,
        "wall_s": elapsed,
        "output_bag": str(out_bag),
    }
    print(
        f"\n{frames} input frames: {published} published, {drops.get('queue', 0)} dropped by the node's queue "
        f"(model slower than the input), {drops.get('invalid', 0)} invalid, {pending} in the delayed window, "
        f"{drops.get('unsynchronised_messages', 0)} unsynchronised messages"
    )
    if published:
        method = f"stdnet-{args.mode} (node)"
        result = score(bag, topics, out_bag, eval_dir, method, args.scale, chain.model_ms, published)
        summary["metrics"] = {name: m["mean"] for name, m in result["methods"].items()}
        print(markdown_table(result).split("\n## ")[0].rstrip())
        lat, model = summary["latency_ms"], summary["model_ms"]
        print(f"\nlatency, input arrival -> output arrival (ms, wall clock, {lat['count']} frames): {spread(lat)}")
        print(f"model time in the node (ms): {spread(model)}")
        print(
            f"\nwritten: {out_bag} (open in Foxglove, or replay with `stdnet bag play` for RViz), "
            f"{eval_dir}/metrics.md, {eval_dir}/figures/"
        )
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"demo {'complete' if accounted else 'FAILED: frames unaccounted for'} in {elapsed:.0f} s "
        f"({args.out / 'summary.json'})"
    )
    return 0 if accounted else 1
