"""`stdnet eval` and the evaluation core on tiny datasets written with write_sequence (as `stdnet generate` does):
the report's shape and numbers, STDNet through the engines equal to the offline forward, LR options, static-scene
flow for TEPE, and clean errors (exit code 2, the file and the problem, no traceback) for bad datasets."""

import dataclasses
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from conftest import tiny_model
from stdnet_ros import cli
from stdnet_ros.data import generate_sequence, open_sequence, write_sequence
from stdnet_ros.data.motion import static_trajectory
from stdnet_ros.data.scene import random_scene
from stdnet_ros.data.synthetic import SyntheticSequence, default_intrinsics
from stdnet_ros.depth.degradation import SENSORS, Degradation
from stdnet_ros.evaluation.metrics import SequenceMetrics
from stdnet_ros.evaluation.runner import (
    BaselineMethod,
    EngineMethod,
    SingleFrameMethod,
    dataset_sequence,
    describe_degradation,
    evaluate_sequence,
    parse_degradation,
)
from stdnet_ros.model import save_weights
from stdnet_ros.streaming import StreamingEngine

W, H = 64, 48
BASE_METHODS = "nearest,bicubic,guided-filter"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    write_sequence(root / "seqs" / "a", generate_sequence(21, 10, W, H, "fast"), scales=(4,))
    write_sequence(root / "seqs" / "b", generate_sequence(22, 6, W, H, "slow"), scales=(4,))
    for mode in ("causal", "bidirectional"):
        save_weights(tiny_model(mode), root / f"tiny-{mode}.safetensors")
    return root


def eval_args(root, data, out, *extra):
    return ["eval", "--data", str(data), "--scale", "4", "--out", str(out), "--device", "cpu", *extra]


@pytest.fixture(scope="module")
def report(dataset):
    out = dataset / "out"
    weights = [str(dataset / f"tiny-{m}.safetensors") for m in ("causal", "bidirectional")]
    rc = cli.main(
        eval_args(
            dataset,
            dataset / "seqs",
            out,
            "--weights",
            *weights,
            "--methods",
            f"stdnet-causal,stdnet-bidirectional,{BASE_METHODS}",
        )
    )
    assert rc == 0
    return json.loads((out / "metrics.json").read_text()), out


def test_report_shape_and_pooled_means(report):
    metrics, _ = report
    assert metrics["scale"] == 4 and metrics["lr"] == "auto"
    assert list(metrics["methods"]) == ["stdnet-causal", "stdnet-bidirectional", *BASE_METHODS.split(",")]
    assert metrics["sequences"]["seqs/a"] == {"frames": 10, "lr": "stored lr_x4/", "flow": "flow/"}
    for method in metrics["methods"].values():
        seqs = method["sequences"]
        assert set(seqs) == {"seqs/a", "seqs/b"}
        assert [seqs[s]["frames"] for s in ("seqs/a", "seqs/b")] == [10, 6]
        for result in seqs.values():
            assert all(result[k] > 0 for k in ("rmse_cm", "mae_cm", "edge_rmse_cm", "tepe_cm", "ms_per_frame"))
            assert result["mae_cm"] <= result["rmse_cm"]
        for key in ("rmse_cm", "mae_cm", "edge_rmse_cm", "tepe_cm"):
            assert method["mean"][key] == pytest.approx((seqs["seqs/a"][key] + seqs["seqs/b"][key]) / 2)


def test_nearest_matches_an_independent_computation_from_the_files(report, dataset):
    metrics, _ = report
    seq = open_sequence(dataset / "seqs" / "a")
    errors = []
    for i in range(len(seq)):
        lr, gt = seq.lr(i, 4), seq.depth(i)
        pred = np.kron(np.where(lr > 0, lr, np.nan), np.ones((4, 4), np.float32))
        ok = (gt > 0) & np.isfinite(pred)
        errors.append((pred - gt)[ok])
    rmse_cm = 100 * np.sqrt(np.mean(np.concatenate(errors).astype(np.float64) ** 2))
    assert metrics["methods"]["nearest"]["sequences"]["seqs/a"]["rmse_cm"] == pytest.approx(rmse_cm, rel=1e-5)


def test_markdown_and_figures(report):
    _, out = report
    table = (out / "metrics.md").read_text()
    for name in ("stdnet-causal", "stdnet-bidirectional", "nearest", "## seqs/a", "## seqs/b"):
        assert name in table
    pngs = sorted(p.name for p in (out / "figures").iterdir())
    assert pngs == ["seqs_a_frame000005.png", "seqs_a_xt_row24.png", "seqs_b_frame000003.png", "seqs_b_xt_row24.png"]
    for name in pngs:
        image = cv2.imread(str(out / "figures" / name))
        assert image is not None and image.std() > 10  # a real picture, not a blank canvas


def test_engine_results_equal_the_offline_forward(dataset):
    """The bidirectional engine answers 8 frames late; eval must still score each output against its own frame."""
    model = tiny_model("bidirectional")
    seq = open_sequence(dataset / "seqs" / "a")
    result = evaluate_sequence(dataset_sequence(seq, 4), {"m": EngineMethod(StreamingEngine(model, "cpu"))}, 4)["m"]
    rgb = torch.stack([torch.from_numpy(seq.rgb(i)).permute(2, 0, 1) for i in range(len(seq))])[None] / 255.0
    lr = torch.stack([torch.from_numpy(seq.lr(i, 4)) for i in range(len(seq))])[None, :, None]
    with torch.no_grad():
        offline = model(lr, rgb)[0, :, 0].numpy()
    expected = SequenceMetrics(4)
    for i in range(len(seq)):
        support = np.kron(seq.lr(i, 4) > 0, np.ones((4, 4), bool))
        expected.add(np.where(support, offline[i], np.nan), seq.depth(i), seq.lr(i, 4), seq.flow(i) if i else None)
    for key, value in expected.result().items():
        assert result[key] == pytest.approx(value, rel=1e-4), key


def test_single_frame_ablation_runs_each_frame_as_its_own_clip(dataset):
    model = tiny_model("causal")
    seq = open_sequence(dataset / "seqs" / "a")
    methods = {
        "single": SingleFrameMethod(StreamingEngine(model, "cpu")),
        "causal": EngineMethod(StreamingEngine(model, "cpu")),
    }
    result = evaluate_sequence(dataset_sequence(seq, 4), methods, 4)
    expected = SequenceMetrics(4)
    for i in range(len(seq)):
        rgb = torch.from_numpy(seq.rgb(i)).permute(2, 0, 1)[None, None] / 255.0
        with torch.no_grad():
            alone = model(torch.from_numpy(seq.lr(i, 4))[None, None, None], rgb)[0, 0, 0].numpy()
        support = np.kron(seq.lr(i, 4) > 0, np.ones((4, 4), bool))
        expected.add(np.where(support, alone, np.nan), seq.depth(i), seq.lr(i, 4), seq.flow(i) if i else None)
    for key, value in expected.result().items():
        assert result["single"][key] == pytest.approx(value, rel=1e-4), key
    assert result["single"]["rmse_cm"] != pytest.approx(result["causal"]["rmse_cm"], rel=1e-4)  # the passes matter


def test_lr_option_simulates_another_degradation(dataset, report):
    assert parse_degradation("auto") is None
    spec = "area:noise=0.02,dropout=0.1"
    assert parse_degradation(spec) == Degradation("area", noise=0.02, dropout=0.1)
    assert describe_degradation(parse_degradation(spec)) == spec
    assert parse_degradation("dtof:range_m=40,bins=512") == Degradation(range_m=40.0, bins=512)
    for name, sensor in SENSORS.items():
        assert parse_degradation(name) == sensor and describe_degradation(sensor) == name
    for bad, message in (
        ("sonar", "unknown kind"),
        ("dtof:bins=x", "bins must be a number"),
        ("dtof:gain=2", "bad parameter"),
        ("area:photons=5", "photons applies to kind 'dtof'"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_degradation(bad)
    out = dataset / "out_area"
    assert cli.main(eval_args(dataset, dataset / "seqs" / "b", out, "--methods", BASE_METHODS, "--lr", spec)) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["sequences"]["b"]["lr"] == f"simulated {spec}"
    nearest = metrics["methods"]["nearest"]["sequences"]["b"]
    assert 0.8 < nearest["coverage"] < 0.97  # 10 % of the LR pixels dropped
    assert nearest["rmse_cm"] != report[0]["methods"]["nearest"]["sequences"]["seqs/b"]["rmse_cm"]


def static_scene_frames(seed, frames):
    """A generated scene with every object frozen: only the camera moves."""
    intr = default_intrinsics(W, H)
    scene = random_scene(np.random.default_rng(seed), intr, "fast")
    frozen = [
        dataclasses.replace(
            o, trajectory=static_trajectory(o.trajectory.pose(0.0)[:3, :3], o.trajectory.pose(0.0)[:3, 3])
        )
        for o in scene.objects[1:]
    ]
    return list(SyntheticSequence(dataclasses.replace(scene, objects=(scene.objects[0], *frozen)), frames, intr))


def test_tepe_flow_from_poses_only_for_static_scenes(tmp_path):
    frames = static_scene_frames(3, 8)
    moved = [dataclasses.replace(f, depth_m=f.depth_m.copy()) for f in frames]
    for f in moved[4:]:
        f.depth_m[8:40, 16:48] -= 0.5  # something moved towards the camera
    for name, seq_frames in (("static", frames), ("moving", moved)):
        write_sequence(tmp_path / name, seq_frames, scales=(4,))
        shutil.rmtree(tmp_path / name / "flow")
    static = dataset_sequence(open_sequence(tmp_path / "static"), 4)
    moving = dataset_sequence(open_sequence(tmp_path / "moving"), 4)
    assert static.info["flow"] == "derived from depth and poses (static scene)"
    assert moving.info["flow"] is None
    flows = [f.flow for f in static.frames]
    assert flows[0] is None
    for flow, frame in zip(flows[1:], frames[1:]):  # the derived flow is the renderer's true flow
        ok = np.isfinite(flow).all(-1) & np.isfinite(frame.flow).all(-1)
        assert ok.mean() > 0.8 and np.abs(flow - frame.flow)[ok].max() < 0.05
    result = evaluate_sequence(moving, {"nearest": BaselineMethod("nearest", 4)}, 4)["nearest"]
    assert result["tepe_cm"] is None and result["rmse_cm"] > 0


def test_missing_shipped_weights_and_bad_methods(dataset, capsys):
    args = eval_args(dataset, dataset / "seqs", dataset / "o1", "--methods", "stdnet-causal", "--preset", "no-such")
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "no-such-x4-causal.safetensors: missing" in err and "--weights" in err
    assert cli.main(eval_args(dataset, dataset / "seqs", dataset / "o2", "--methods", "bicubic,magic")) == 2
    assert "unknown ['magic']" in capsys.readouterr().err
    weights = str(dataset / "tiny-causal.safetensors")
    assert (
        cli.main(eval_args(dataset, dataset / "seqs", dataset / "o3", "--methods", "nearest", "--weights", weights))
        == 2
    )
    assert "none of stdnet-causal, stdnet-single-frame is in --methods" in capsys.readouterr().err
    args = eval_args(dataset, dataset / "seqs", dataset / "o4", "--methods", "stdnet-single-frame-net")
    assert cli.main(args) == 2  # the trained single-frame ablation is never shipped
    assert "stdnet-single-frame-net: needs --weights FILE of a single-frame model" in capsys.readouterr().err


def break_intrinsics(seq):
    (seq / "intrinsics.json").unlink()


def break_frame_count(seq):
    (seq / "rgb" / "000005.png").unlink()


def break_png(seq):
    (seq / "depth" / "000002.png").write_bytes(b"not a png")


def break_size(seq):
    intr = json.loads((seq / "intrinsics.json").read_text())
    (seq / "intrinsics.json").write_text(json.dumps({**intr, "width": 72}))


@pytest.mark.parametrize(
    "breakage, message",
    [
        (break_intrinsics, "intrinsics.json: missing"),
        (break_frame_count, "rgb/ has 5 frames but depth/ has 6"),
        (break_png, "depth/000002.png: missing or unreadable image"),
        (break_size, "size 72x48 is not divisible by 16"),
    ],
)
def test_bad_dataset_is_a_clean_error(dataset, tmp_path, capsys, breakage, message):
    seq = tmp_path / "b"
    shutil.copytree(dataset / "seqs" / "b", seq)
    breakage(seq)
    assert cli.main(eval_args(dataset, seq, tmp_path / "out", "--methods", "nearest")) == 2
    err = capsys.readouterr().err
    assert err.startswith("stdnet eval: error: ") and message in err and str(seq) in err


def test_bad_dataset_exit_code_without_traceback(dataset, tmp_path):
    seq = tmp_path / "b"
    shutil.copytree(dataset / "seqs" / "b", seq)
    break_png(seq)
    result = subprocess.run(
        [sys.executable, "-m", "stdnet_ros.cli", *eval_args(dataset, seq, tmp_path / "out", "--methods", "bicubic")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "000002.png: missing or unreadable image" in result.stderr and "Traceback" not in result.stderr
