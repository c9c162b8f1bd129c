"""`stdnet demo` end to end on a 10-frame sample bag: stdnet_node and the bag player in their own processes over
real Fast DDS, the outputs recorded to a bag, every frame accounted for, quality table, figures and latency."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import torch
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory

from conftest import TINY
from stdnet_ros.bags import sample
from stdnet_ros.bags.messages import stamp_ns
from stdnet_ros.bags.reader import BagReader
from stdnet_ros.bags.run import DEPTH_SR_TOPIC, STATUS_TOPIC
from stdnet_ros.model import build_model, save_weights

FRAMES = 10


def test_demo_chain_accounts_for_every_frame(tmp_path):
    weights = tmp_path / "tiny-causal.safetensors"
    torch.manual_seed(0)
    save_weights(build_model("stdnet", directions="causal", stages=1, scale=4, **TINY), weights)
    env = dict(
        os.environ,
        ROS_DOMAIN_ID=str(random.randint(100, 200)),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        OMP_NUM_THREADS="1",
    )  # two shared cores: one torch thread per process
    out, bag = tmp_path / "demo", tmp_path / "sample_bag"  # the bag is missing: the demo writes it
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "stdnet"),
            "demo",
            "--out",
            str(out),
            "--bag",
            str(bag),
            "--frames",
            str(FRAMES),
            "--weights",
            str(weights),
            "--rate",
            "0.5",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    logs = "".join((out / name).read_text() for name in ("node.log", "play.log") if (out / name).exists())
    assert result.returncode == 0, result.stdout + result.stderr + logs
    summary = json.loads((out / "summary.json").read_text())
    dropped = summary["dropped"]
    assert summary["accounted"] and summary["frames"] == FRAMES and summary["published"] >= 1
    assert summary["published"] + dropped["queue"] + dropped["invalid"] + dropped["unsynchronised_messages"] >= FRAMES
    assert summary["latency_ms"]["count"] == summary["published"] and summary["latency_ms"]["p50"] > 0
    assert set(summary["recorded"].values()) == {summary["published"]}, summary["recorded"]  # every topic drained
    assert "guided-filter" in result.stdout and "latency, input arrival -> output arrival" in result.stdout
    metrics = json.loads((out / "eval" / "metrics.json").read_text())["methods"]
    assert set(metrics) == {"stdnet-causal (node)", "bicubic", "guided-filter"}
    assert metrics["stdnet-causal (node)"]["mean"]["frames"] == summary["published"]
    assert len(list((out / "eval" / "figures").glob("*.png"))) == 2
    with BagReader(bag) as reader:
        input_stamps = [stamp_ns(m.header.stamp) for _, _, m in reader.messages([sample.RGB_TOPIC])]
    with BagReader(out / "output_bag") as reader:
        assert reader.count(DEPTH_SR_TOPIC) == reader.count(STATUS_TOPIC) == summary["published"]
        output_stamps = [t for _, t, _ in reader.cdr_messages([DEPTH_SR_TOPIC])]
    assert output_stamps == sorted(output_stamps) and set(output_stamps) <= set(input_stamps)
    with open(next((out / "output_bag").glob("*.mcap")), "rb") as f:
        decoded = [
            (m.log_time, d)
            for _, _, m, d in make_reader(f, decoder_factories=[DecoderFactory()]).iter_decoded_messages(
                topics=[STATUS_TOPIC]
            )
        ]
    assert [t for t, _ in decoded] == output_stamps and all(d.mode == "causal" for _, d in decoded)
