"""ONNX export of the causal streaming step, run with onnxruntime against the PyTorch streaming engine."""

import numpy as np
import onnx
import pytest

from conftest import frame_arrays, random_clip, tiny_model
from stdnet_ros.cli import main
from stdnet_ros.export import export_causal_step, max_stream_difference
from stdnet_ros.model import save_weights


def clip_frames(frames=20):
    rgb, lr = random_clip(frames=frames)
    lr[0, 4, 0, 2, 3] = float("nan")  # an invalid pixel: filled inside the graph, NaN block in its output
    lr[0, 9] = 0.0  # an all-invalid frame
    for t in range(frames):
        r, d = frame_arrays(rgb, lr, t)
        yield (r * 255).round().astype(np.uint8), d


@pytest.mark.parametrize("stages", [1, 2])
def test_exported_step_matches_the_engine_over_a_stream(tmp_path, stages):
    model = tiny_model("causal", stages)
    path = export_causal_step(model, tmp_path / "step.onnx", 32, 48)
    graph = onnx.load(str(path)).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("GridSample") == len(model.stages[0].tdms) * stages and "DeformConv" not in ops  # one per TDM
    assert max_stream_difference(model, path, clip_frames()) <= 1e-3


def test_bidirectional_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="directions: the exported step needs a causal model"):
        export_causal_step(tiny_model("bidirectional", 1), tmp_path / "x.onnx", 32, 48)


def test_flow_guided_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="alignment: the exported step supports 'learned' only"):
        export_causal_step(tiny_model("causal", 1, alignment="flow-guided"), tmp_path / "x.onnx", 32, 48)


def test_cli_exports_and_checks(tmp_path, capsys):
    weights = tmp_path / "w.safetensors"
    save_weights(tiny_model("causal", 1), weights)
    out = tmp_path / "step.onnx"
    code = main(["export", "--weights", str(weights), "--width", "64", "--height", "48", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and out.is_file() and "max |difference|" in printed
    code = main(["export", "--weights", str(tmp_path / "none.safetensors"), "--out", str(out)])
    assert code == 2 and "none.safetensors: does not exist" in capsys.readouterr().out
