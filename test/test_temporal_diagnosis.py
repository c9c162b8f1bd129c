"""`stdnet diagnose` and temporal_diagnosis.py on a generated sequence with exact flow."""

import json

import pytest
import torch

from conftest import tiny_model
from stdnet_ros.cli import main
from stdnet_ros.data import generate_sequence, open_sequence, write_sequence
from stdnet_ros.evaluation.runner import dataset_sequence, parse_degradation
from stdnet_ros.evaluation.temporal_diagnosis import alignment_errors, clip_tensors, pass_changes
from stdnet_ros.model import save_weights

W, H = 96, 64


@pytest.fixture(scope="module")
def sequence_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("diag")
    write_sequence(root / "seqs" / "a", generate_sequence(35, 5, W, H, "fast"), scales=())
    return root


def clip(sequence_dir, frames=5):
    reader = open_sequence(sequence_dir / "seqs" / "a")
    return clip_tensors(dataset_sequence(reader, 4, parse_degradation("indoor")), frames)


def without_own_offsets(model):
    for stage in model.stages:
        for tdm in stage.tdms:
            torch.nn.init.zeros_(tdm.offset_mask.weight)
    return model


def test_zero_offsets_make_the_shift_error_the_motion(sequence_dir):
    rgb, lr, flows = clip(sequence_dir)
    result = alignment_errors(without_own_offsets(tiny_model("causal", 1)), rgb, lr, flows)
    assert result["kernel_shift_mean_fpx"] == 0.0 and result["motion_fpx"] > 0.3
    assert result["kernel_shift_epe_fpx"] == pytest.approx(result["motion_fpx"])
    assert "flow_epe_fpx" not in result


@pytest.mark.parametrize("directions", ["causal", "bidirectional"])
def test_a_flow_guided_kernel_shifts_by_the_rgb_flow_which_follows_the_true_motion(sequence_dir, directions):
    rgb, lr, flows = clip(sequence_dir)
    model = without_own_offsets(tiny_model(directions, 1, alignment="flow-guided"))
    result = alignment_errors(model, rgb, lr, flows)
    assert result["kernel_shift_epe_fpx"] == pytest.approx(result["flow_epe_fpx"], rel=1e-5)
    assert result["flow_epe_fpx"] < 0.5 * result["motion_fpx"]  # DIS flow vs the generator's exact flow
    assert result["kernel_shift_correlation"] > 0.5


def test_pass_changes_measure_the_distance_from_a_copy(sequence_dir):
    rgb, lr, _ = clip(sequence_dir)  # 5 frames: frames 1-4 have a neighbour in a forward pass
    model = tiny_model("causal", 1)
    assert all(c > 0 for c in pass_changes(model, rgb, lr))
    # a TDM that returns half its current input: a frame with two neighbours is copied (change 0), frame 1 with
    # one neighbour is halved (change 0.5), so the mean over frames 1-4 is 0.125
    model.stages[0].tdms[0].forward = lambda current, *rest: current / 2
    assert pass_changes(model, rgb, lr)[0] == pytest.approx(0.125, abs=1e-6)


def test_cli_reports_every_condition(sequence_dir, tmp_path, capsys):
    weights = tmp_path / "tiny.safetensors"
    save_weights(tiny_model("causal", 1), weights)
    out = tmp_path / "report.json"
    argv = ["diagnose", "--data", str(sequence_dir / "seqs"), "--weights", str(weights), "--frames", "3"]
    assert main([*argv, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert len(report["gain"]) == 9 and len(report["pass_relative_change"]) == 4
    for g in report["gain"].values():
        assert g["gain"] == pytest.approx(1 - g["streamed_rmse_cm"] / g["single_rmse_cm"])
    assert "| indoor noise 0.04 |" in capsys.readouterr().out


def test_cli_refuses_a_model_without_passes_and_data_without_flow(sequence_dir, tmp_path, capsys):
    weights = tmp_path / "single.safetensors"
    save_weights(tiny_model("single-frame", 1), weights)
    assert main(["diagnose", "--data", str(sequence_dir / "seqs"), "--weights", str(weights)]) == 2
    assert "no temporal paths" in capsys.readouterr().err
    bare = tmp_path / "bare"
    write_sequence(bare / "b", generate_sequence(32, 3, W, H, "fast"), scales=())
    for f in (bare / "b" / "flow").iterdir():
        f.unlink()
    (bare / "b" / "flow").rmdir()
    save_weights(tiny_model("causal", 1), weights)
    assert main(["diagnose", "--data", str(bare), "--weights", str(weights)]) == 2
    assert "needs sequences with flow/" in capsys.readouterr().err
