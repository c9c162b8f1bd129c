"""Weights: safetensors round trip with the config in the metadata; each bad file gives its own clear error."""

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from conftest import TINY, random_clip, tiny_model
from stdnet_ros.model import WeightsError, build_model, load_weights, preset_config, save_weights
from stdnet_ros.model.normalisation import NORMALISATION
from stdnet_ros.shipped import WEIGHTS_DIR, shipped_weights_path


def test_round_trip_rebuilds_the_same_model(tmp_path):
    model = tiny_model("causal", 2, scale=8)
    path = tmp_path / "w.safetensors"
    save_weights(model, path)
    loaded = load_weights(path)
    assert loaded.config == model.config and loaded.preset == "stdnet"
    rgb, lr = random_clip(frames=3, scale=8)
    with torch.no_grad():
        assert torch.equal(model(lr, rgb), loaded(lr, rgb))


def test_expected_config_is_checked(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(build_model("stdnet", scale=8, **TINY), path)
    assert load_weights(path, scale=8).config.scale == 8
    with pytest.raises(WeightsError, match=r"w\.safetensors.*scale=8 \(expected 4\)"):
        load_weights(path, scale=4)
    with pytest.raises(WeightsError, match=r"directions='bidirectional' \(expected 'causal'\)"):
        load_weights(path, directions="causal")


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match=r"nope\.safetensors: does not exist"):
        load_weights(tmp_path / "nope.safetensors")


def test_pickle_file_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "w.pth"

    class Bomb:  # unpickling this would raise; the loader must never get that far
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled')",))

    path.write_bytes(pickle.dumps({"state_dict": Bomb()}))
    with pytest.raises(WeightsError, match=r"w\.pth: not a safetensors file"):
        load_weights(path)


def test_safetensors_without_our_metadata(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(WeightsError, match="metadata format is None"):
        load_weights(path)


def test_bad_config_in_metadata(tmp_path):
    path = tmp_path / "w.safetensors"
    meta = {
        "format": "stdnet_ros/weights/v1",
        "preset": "stdnet",
        "config": json.dumps({"scale": 5}),
        "normalisation": NORMALISATION,
    }
    save_file({"x": torch.zeros(2)}, str(path), metadata=meta)
    with pytest.raises(WeightsError, match="bad model config.*scale must be one of"):
        load_weights(path)


def test_weights_made_under_another_depth_normalisation_are_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    config = {k: v for k, v in build_model("stdnet", **TINY).config.to_dict().items()}
    for extra in ({}, {"normalisation": "fixed-30m"}):  # the files before frame scales carry no rule at all
        meta = {"format": "stdnet_ros/weights/v1", "preset": "stdnet", "config": json.dumps(config), **extra}
        save_file({"x": torch.zeros(2)}, str(path), metadata=meta)
        with pytest.raises(WeightsError, match=f"depth normalisation .*this code uses '{NORMALISATION}'"):
            load_weights(path)


def test_tensors_that_do_not_match_the_config(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(build_model("stdnet", **TINY), path)
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta["config"])
    config["channels"] = 32  # the metadata now claims a wider model than the tensors hold
    meta["config"] = json.dumps(config)
    del tensors["stages.0.head.0.bias"]
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(
        WeightsError, match=r"does not match its config: missing tensor stages\.0\.head\.0\.bias.*shape"
    ):
        load_weights(path)


@pytest.mark.parametrize("scale", [4, 8])
@pytest.mark.parametrize("mode", ["causal", "bidirectional"])
def test_shipped_weights_load_as_named_and_give_finite_depth(scale, mode):
    path = shipped_weights_path("stdnet-lite", scale, mode)
    model = load_weights(path, scale=scale, directions=mode)
    assert model.preset == "stdnet-lite"  # all four trained by the CPU recipe, on the joint-bilateral base
    assert model.config == preset_config("stdnet-lite", scale=scale, directions=mode, residual_base="joint-bilateral")
    assert path.name in (WEIGHTS_DIR / "README.md").read_text()  # the model card covers it
    rgb, lr = random_clip(frames=5, height=32, width=32, scale=scale)
    with torch.no_grad():
        depth = model(lr, rgb)
    assert torch.isfinite(depth).all() and depth.shape == (1, 5, 1, 32, 32)
