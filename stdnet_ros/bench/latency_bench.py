"""``stdnet bench latency``: end-to-end latency and drops of ``stdnet_node`` over DDS, and a memory soak.

A publisher in this process sends RGB (rgb8) + LR depth (32FC1) pairs and both camera_infos at 5, 10 and 30 Hz,
stamped with the wall clock when sent (as a camera driver does), to a node started in its own process (random
weights of ``--preset``: the cost does not depend on the values; no point-cloud subscriber). Per output the node's
status gives latency_ms (input header stamp -> output publish, wall clock) and model_ms (the network); "other" is
the difference (conversion, queueing, publishing, and in bidirectional mode waiting for the future frames).
Drop rate = 1 - (outputs + frames still in the delayed window) / frames sent. Runs are separated by more than the
node's max_gap, so each starts from a reset stream.

``--soak-minutes M``: M minutes of 30 Hz input in causal mode; the node's resident memory (VmRSS) is sampled each
second and must stay flat (growth <= 5 % after the first minute), the node must survive and every frame must be
accounted for (published, or counted as dropped by the node).
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rclpy
import torch
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from ..bags.demo_chain import child_env, node_command, stop
from ..bags.messages import message_class, stamp_ns
from ..bags.play import FASTDDS_PROFILE
from ..bags.typestore import STATUS_TYPE
from ..data.synthetic import default_intrinsics
from ..messages.camera_info import camera_info_from_intrinsics
from ..messages.image import depth_m_to_image, rgb_to_image
from ..model import build_model, save_weights
from ..streaming import resolve_device
from . import record
from .model_bench import random_frames

GAP_S = 1.5  # pause between runs: > the node's max_gap (0.5 s), so the next run starts from a reset
SOAK_RATE_HZ = 30
SOAK_GROWTH_LIMIT = 0.05
START_TIMEOUT_S = 120.0
LOG_DIR = Path("out/bench_logs")  # the node processes' output (not a result)


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"process {pid}: no VmRSS")


def percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{100 * fraction:.1f} %"


def summary(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {
        "count": len(values),
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max": ordered[-1],
    }


class Peer:
    """Publishes the node's inputs and collects its status messages, in a private rclpy context."""

    def __init__(self, width: int, height: int, scale: int):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("stdnet_latency_bench", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        qos = QoSProfile(depth=5)  # reliable, as many drivers; the node subscribes best effort
        self.pubs = {
            t: self.node.create_publisher(message_class(m), t, qos)
            for t, m in (
                ("rgb/image", "sensor_msgs/msg/Image"),
                ("depth/image", "sensor_msgs/msg/Image"),
                ("rgb/camera_info", "sensor_msgs/msg/CameraInfo"),
                ("depth/camera_info", "sensor_msgs/msg/CameraInfo"),
            )
        }
        self.statuses = []
        self.status_sub = self.node.create_subscription(
            message_class(STATUS_TYPE), "stdnet_node/status", self.statuses.append, QoSProfile(depth=100)
        )
        self.frames = list(random_frames(10, height, width, scale))
        self.intr = default_intrinsics(width, height)
        self.lr_intr = self.intr.scaled(1 / scale)

    def matched(self) -> bool:
        return (
            all(p.get_subscription_count() > 0 for p in self.pubs.values())
            and self.status_sub.get_publisher_count() > 0
        )

    def spin_until(self, deadline: float, done=lambda: False) -> bool:
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.executor.spin_once(timeout_sec=min(remaining, 0.005))
        return True

    def send(self, index: int) -> int:
        """Publish frame ``index`` (cycling through the pool) stamped now; returns the stamp (ns)."""
        now = time.time_ns()
        header = Header(frame_id="camera")
        header.stamp.sec, header.stamp.nanosec = divmod(now, 1_000_000_000)
        rgb, lr = self.frames[index % len(self.frames)]
        self.pubs["rgb/camera_info"].publish(camera_info_from_intrinsics(self.intr, CameraInfo, header))
        self.pubs["depth/camera_info"].publish(camera_info_from_intrinsics(self.lr_intr, CameraInfo, header))
        self.pubs["rgb/image"].publish(rgb_to_image(rgb, Image, header))
        self.pubs["depth/image"].publish(depth_m_to_image(lr, Image, header, "32FC1"))
        return now

    def stream(self, rate: float, seconds: float, on_second=None) -> list[int]:
        """Send frames at ``rate`` Hz for ``seconds``; ``on_second(elapsed_s)`` once a second. The stamps sent."""
        stamps, start, next_tick = [], time.monotonic(), 1.0
        for k in range(int(round(rate * seconds))):
            self.spin_until(start + k / rate)
            stamps.append(self.send(k))
            if on_second is not None and time.monotonic() - start >= next_tick:
                on_second(next_tick)
                next_tick += 1.0
        return stamps

    def close(self) -> None:
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def run_stats(peer: Peer, stamps: list[int], delay: int, before) -> dict:
    """Latency, model time and drops of one run from the statuses of outputs stamped in it."""
    sent = set(stamps)
    outs = [s for s in peer.statuses if stamp_ns(s.header.stamp) in sent]
    live = [s for s in outs if stamp_ns(s.input_stamp) in sent]  # not flushed late by the next run's reset
    last = peer.statuses[-1] if peer.statuses else None
    counters = {
        k: (getattr(last, k) - getattr(before, k, 0)) if last else 0
        for k in ("queue_drops", "sync_drops", "invalid_drops")
    }
    return {
        "frames_sent": len(stamps),
        "outputs": len(outs),
        "delayed_window": delay,
        "drop_rate": 1 - min(len(outs) + delay, len(stamps)) / len(stamps),
        "node_counters": counters,
        "latency_ms": summary([s.latency_ms for s in live]),
        "model_ms": summary([s.model_ms for s in live]),
        "other_ms": summary([s.latency_ms - s.model_ms for s in live]),
    }


def start_node(weights: Path, mode: str, scale: int, device: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        node_command(str(weights), mode, scale, device, {}, False),
        env=child_env(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def latency_runs(args, peer: Peer, weights: dict, logs: Path) -> dict:
    results = {}
    for mode in args.modes:
        node = start_node(weights[mode], mode, args.scale, args.device, logs / f"node-{mode}.log")
        try:
            if not peer.spin_until(time.monotonic() + START_TIMEOUT_S, peer.matched):
                raise RuntimeError(f"stdnet_node ({mode}) did not come up; see {logs / f'node-{mode}.log'}")
            warm_up(peer, logs / f"node-{mode}.log")
            delay = peer.statuses[-1].delay_frames if peer.statuses else 0
            results[mode] = {}
            for rate in args.rates:
                before = peer.statuses[-1] if peer.statuses else None
                stamps = peer.stream(rate, args.seconds)
                peer.spin_until(time.monotonic() + GAP_S + 2.0)  # last outputs (a slow model may still be busy)
                stats = run_stats(peer, stamps, delay, before)
                results[mode][f"{rate:g}hz"] = stats
                lat, model = stats["latency_ms"], stats["model_ms"]
                print(
                    f"{mode:13s} {rate:4g} Hz: {stats['outputs']}/{stats['frames_sent']} out, drop rate "
                    f"{stats['drop_rate']:.2f} | latency p50 {lat.get('p50', float('nan')):7.1f} p95 "
                    f"{lat.get('p95', float('nan')):7.1f} max {lat.get('max', float('nan')):7.1f} ms | model "
                    f"p50 {model.get('p50', float('nan')):7.1f} ms",
                    flush=True,
                )
        finally:
            stop(node)
    return results


def warm_up(peer: Peer, log: Path) -> None:
    """Send 5 Hz frames until the node publishes (every reader has matched its writer: the first samples of a
    just-discovered best-effort writer can be lost, before any node code sees them), then let the stream reset."""
    count = len(peer.statuses)
    deadline = time.monotonic() + START_TIMEOUT_S
    while len(peer.statuses) == count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"stdnet_node published nothing during warm-up; see {log}")
        peer.stream(5, 1)
    peer.spin_until(time.monotonic() + GAP_S)


def rss_growth(samples: list[tuple[float, float | None]]) -> dict:
    """RSS growth after the first minute, from (elapsed_s, MiB) samples: the peak sample against the median of
    the second minute (a robust base: single samples swing with per-frame allocations), and the trend = median
    of the last minute against the same base."""
    second = [m for t, m in samples if 60 <= t < 120 and m is not None]
    last_t = max((t for t, m in samples if m is not None), default=0)
    last = [m for t, m in samples if t > last_t - 60 and t >= 60 and m is not None]
    if not second:
        return {"rss_growth_after_first_minute": None, "rss_trend": None}
    base = statistics.median(second)
    peak = max(m for t, m in samples if t >= 60 and m is not None)
    return {
        "rss_base_mib": base,
        "rss_growth_after_first_minute": (peak - base) / base,
        "rss_trend": (statistics.median(last) - base) / base,
    }


def soak(args, peer: Peer, weights: Path, logs: Path) -> dict:
    node = start_node(weights, "causal", args.scale, args.device, logs / "node-soak.log")
    samples = []
    try:
        if not peer.spin_until(time.monotonic() + START_TIMEOUT_S, peer.matched):
            raise RuntimeError(f"stdnet_node did not come up; see {logs / 'node-soak.log'}")
        warm_up(peer, logs / "node-soak.log")
        first = len(peer.statuses)
        before = peer.statuses[-1]
        stamps = peer.stream(
            SOAK_RATE_HZ,
            60 * args.soak_minutes,
            lambda t: samples.append((t, rss_mib(node.pid) if node.poll() is None else None)),
        )
        peer.spin_until(time.monotonic() + 3.0)
        alive = node.poll() is None
    finally:
        stop(node)
    statuses, sent = peer.statuses[first:], set(stamps)
    outputs = len([s for s in statuses if stamp_ns(s.header.stamp) in sent])
    last = statuses[-1] if statuses else before
    counters = {k: getattr(last, k) - getattr(before, k) for k in ("queue_drops", "invalid_drops", "sync_drops")}
    unexplained = len(stamps) - outputs - counters["queue_drops"] - counters["invalid_drops"]
    growth = rss_growth(samples)
    result = {
        "minutes": args.soak_minutes,
        "rate_hz": SOAK_RATE_HZ,
        "frames_sent": len(stamps),
        "outputs": outputs,
        **counters,
        "unexplained": unexplained,
        "alive": alive,
        "rss_mib": samples,
        **growth,
        "accounted": 0 <= unexplained <= counters["sync_drops"],
    }
    peak = growth["rss_growth_after_first_minute"]
    result["passed"] = bool(alive and result["accounted"] and peak is not None and peak <= SOAK_GROWTH_LIMIT)
    print(
        f"soak {args.soak_minutes:g} min at {SOAK_RATE_HZ} Hz: {outputs}/{len(stamps)} out, alive {alive}, RSS "
        f"growth after minute 1: {percent(peak)} (trend {percent(growth['rss_trend'])}), {unexplained} unaccounted "
        f"-> {'PASS' if result['passed'] else 'FAIL'}",
        flush=True,
    )
    return result


def run(args) -> int:
    if args.soak_minutes and args.soak_minutes <= 1:
        print(
            "stdnet bench latency: error: --soak-minutes must be > 1 (memory growth is measured after the first "
            "minute)",
            file=sys.stderr,
        )
        return 2
    device = resolve_device(args.device)
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(FASTDDS_PROFILE))  # we publish the inputs
    with tempfile.TemporaryDirectory() as tmp:
        weights = {}
        for mode in set(args.modes) | ({"causal"} if args.soak_minutes else set()):
            torch.manual_seed(0)
            weights[mode] = Path(tmp) / f"{args.preset}-{mode}.safetensors"
            save_weights(build_model(args.preset, scale=args.scale, directions=mode), weights[mode])
        logs = LOG_DIR
        logs.mkdir(parents=True, exist_ok=True)
        peer = Peer(args.width, args.height, args.scale)
        try:
            results = {"modes": latency_runs(args, peer, weights, logs)}
            if args.soak_minutes:
                results["soak"] = soak(args, peer, weights["causal"], logs)
        finally:
            peer.close()
    path = record.write(
        "latency",
        device,
        {
            "preset": args.preset,
            "width": args.width,
            "height": args.height,
            "scale": args.scale,
            "seconds_per_run": args.seconds,
            "weights": "random (cost does not depend on values)",
            "cloud": "not subscribed (not built)",
            **results,
        },
        args.out,
    )
    print(f"wrote {path}")
    return 0 if results.get("soak", {}).get("passed", True) else 1
