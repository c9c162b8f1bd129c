"""Training: aligned crops, identical flips, the degradation distribution, config files, safetensors checkpoints,
clip sources, and `stdnet train` end to end with chunked runs resuming exactly."""

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file

from conftest import TINY
from stdnet_ros import cli
from stdnet_ros.data import DatasetError, generate_sequence, open_sequence, split_seed, write_sequence
from stdnet_ros.depth.degradation import SENSORS, degrade
from stdnet_ros.model import build_model, load_weights, save_weights
from stdnet_ros.model.losses import STDNetLoss
from stdnet_ros.shipped import shipped_weights_path
from stdnet_ros.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from stdnet_ros.training.clips import (
    DatasetClips,
    GeneratorClips,
    StepBatches,
    TrainClips,
    aligned_crop,
    flip_and_transpose,
    make_sample,
)
from stdnet_ros.training.config import ConfigError, learning_rate, load_config
from stdnet_ros.training.degradation_sampling import DegradationDistribution
from stdnet_ros.training.trainer import TrainModule, initialise_from, start_at_upsampled_lr, weights_path

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "train"
AREA_ONLY = DegradationDistribution(
    p_sensor=0.0, p_other_family=1.0, other_families=("area",), p_noise=0.0, p_dropout=0.0
)


def smooth_depth(frames=3, height=48, width=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(frames, height, width, generator=g) * 4 + 0.5).numpy()


def test_aligned_crop_keeps_the_lr_grid():
    depth = smooth_depth()
    rgb = np.zeros(depth.shape + (3,), np.uint8)
    scale, patch = 8, 16
    full_lr = degrade(torch.from_numpy(depth), None, scale, "area")
    corners = set()
    for seed in range(30):
        _, crop, (y, x) = aligned_crop(rgb, depth, patch, scale, np.random.default_rng(seed))
        corners.add((y, x))
        assert y % scale == 0 and x % scale == 0
        lr = degrade(torch.from_numpy(np.ascontiguousarray(crop)), None, scale, "area")
        torch.testing.assert_close(lr, full_lr[:, y // scale : (y + patch) // scale, x // scale : (x + patch) // scale])
    assert len(corners) > 5  # the corner really is drawn
    with pytest.raises(ValueError, match="multiple of the scale"):
        aligned_crop(rgb, depth, 12, scale, np.random.default_rng(0))


def test_flips_and_transpose_are_the_same_for_every_tensor():
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(2, 4, 4)
    variants = [x, x.flip(-1), x.flip(-2), x.flip(-1).flip(-2)]
    dihedral = variants + [v.transpose(-2, -1) for v in variants]
    seen = set()
    for seed in range(40):
        a, b = flip_and_transpose([x, 2 * x + 1], np.random.default_rng(seed))
        torch.testing.assert_close(b, 2 * a + 1)
        seen.add(next(i for i, d in enumerate(dihedral) if torch.equal(a, d)))
    assert seen == set(range(8))


def test_sample_modalities_stay_aligned_after_crop_and_flips():
    depth = smooth_depth(frames=4)
    rgb = np.repeat(np.round(depth * 50).astype(np.uint8)[..., None], 3, axis=-1)  # rgb encodes depth
    for seed in range(12):
        s = make_sample(rgb, depth, 32, 4, AREA_ONLY, np.random.default_rng(seed))
        assert s["rgb"].shape == (4, 3, 32, 32) and s["gt"].shape == (4, 1, 32, 32) and s["lr"].shape == (4, 1, 8, 8)
        torch.testing.assert_close(s["rgb"][:, :1] * 255, torch.round(s["gt"] * 50))
        torch.testing.assert_close(s["lr"], degrade(s["gt"], None, 4, "area"))


def test_degradation_distribution_is_varied_valid_and_seeded():
    dist = DegradationDistribution()
    draws = [dist.sample(np.random.default_rng([3, i])) for i in range(400)]
    assert draws == [dist.sample(np.random.default_rng([3, i])) for i in range(400)]
    for sensor in SENSORS.values():
        assert 0.05 < sum(d == sensor for d in draws) / len(draws) < 0.15
    assert {d.kind for d in draws} == {"dtof", "area", "nearest", "bicubic"}
    dtof = [d for d in draws if d.kind == "dtof" and d not in SENSORS.values()]
    widths_m = [d.range_m / (d.bins - 1) for d in dtof]
    assert all(15.0 <= d.range_m <= 150.0 for d in dtof)
    assert 0.0049 < min(widths_m) < 0.007 and 0.07 < max(widths_m) < 0.101  # about 5 mm to 10 cm bins
    assert any(d.photons > 0 for d in dtof) and any(d.noise > 0 for d in draws) and any(d.dropout > 0 for d in draws)
    depth, rgb = torch.rand(16, 16) * 5 + 1, torch.rand(3, 16, 16)
    for d in draws[:40]:
        lr = d.apply(depth, rgb, 4, torch.Generator().manual_seed(0))
        assert lr.shape == (4, 4) and torch.isfinite(lr).all() and (lr >= 0).all()
    with pytest.raises(ValueError, match="other_families"):
        DegradationDistribution(other_families=("dtof",))


def test_step_batches_split_a_step_across_ranks():
    single = iter(StepBatches(start_step=5, batch_size=4))
    ranks = [iter(StepBatches(start_step=5, batch_size=2, rank=r, world_size=2)) for r in range(2)]
    for _ in range(3):
        parts = [next(r) for r in ranks]
        assert not set(parts[0]) & set(parts[1])
        assert parts[0] + parts[1] == next(single)


def test_generator_clips_cache_and_samples_are_pure_functions_of_the_index(tmp_path):
    source = GeneratorClips(3, 4, 64, 48, "fast", tmp_path / "cache")
    rgb, depth = source.load(1)
    frames = list(generate_sequence(split_seed("train", 1), 4, 64, 48, "fast"))
    assert np.array_equal(rgb, np.stack([f.rgb for f in frames]))
    cached = list((tmp_path / "cache").rglob("*.npz"))
    assert [p.name for p in cached] == [f"{split_seed('train', 1)}.npz"]
    rgb2, depth2 = source.load(1)  # read back from the cache
    assert np.array_equal(rgb, rgb2) and np.array_equal(depth, depth2)
    clips = TrainClips(source, 32, 4, DegradationDistribution(), seed=0)
    a, b, c = clips[7], clips[7], clips[8]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["gt"], c["gt"]) or not torch.equal(a["lr"], c["lr"])


@pytest.fixture(scope="module")
def folder_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    write_sequence(root / "a", generate_sequence(11, 5, 64, 48, "slow"), scales=(4,))
    write_sequence(root / "b", generate_sequence(12, 3, 64, 48, "slow"), scales=())
    return root


def test_dataset_clips_are_windows_of_consecutive_frames(folder_root):
    clips = DatasetClips([str(folder_root)], frames=3, layout="folders", min_size=32)
    assert len(clips) == 3 + 1  # a: starts 0, 1, 2; b: start 0
    reader = open_sequence(folder_root / "a")
    rgb, depth = clips.load(1)
    assert np.array_equal(rgb, np.stack([reader.rgb(i) for i in (1, 2, 3)]))
    assert np.array_equal(depth, np.stack([reader.depth(i) for i in (1, 2, 3)]))
    with pytest.raises(DatasetError, match="not a tartanair sequence"):
        DatasetClips([str(folder_root)], frames=3, layout="tartanair", min_size=32)
    with pytest.raises(DatasetError, match="smaller than the training patch 64"):
        DatasetClips([str(folder_root)], frames=3, layout="folders", min_size=64)
    with pytest.raises(DatasetError, match="no sequence has 6 frames"):
        DatasetClips([str(folder_root)], frames=6, layout="folders", min_size=32)


def test_tartanair_clips(tmp_path):
    seq = tmp_path / "office" / "P000"
    (seq / "image_left").mkdir(parents=True)
    (seq / "depth_left").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(seq / "image_left" / f"{i:06d}_left.png"), rng.integers(0, 255, (480, 640, 3), np.uint8))
        np.save(seq / "depth_left" / f"{i:06d}_left_depth.npy", rng.uniform(1, 5, (480, 640)).astype(np.float32))
    clips = DatasetClips([str(tmp_path)], frames=3, layout="tartanair", min_size=192)
    rgb, depth = clips.load(0)
    assert rgb.shape == (3, 480, 640, 3) and depth.shape == (3, 480, 640)
    sample = make_sample(rgb, depth, 192, 8, DegradationDistribution(), np.random.default_rng(0))
    assert sample["lr"].shape == (3, 1, 24, 24)


def test_shipped_configs_load_and_name_their_model():
    names = sorted(p.stem for p in CONFIGS.glob("stdnet-lite-*.yaml") if not p.stem.endswith("-cpu"))
    assert names == [f"stdnet-lite-x{s}-{m}" for s in (4, 8) for m in ("bidirectional", "causal")]
    for name in names:
        config = load_config(CONFIGS / f"{name}.yaml", ["run.weights=shipped"])
        model = config.model_config()
        assert f"{config.preset}-x{model.scale}-{model.directions}" == name
        assert config.run.out_dir == f"runs/{name}" and config.optim.lr == 1e-4 and config.data.frames == 7
        assert weights_path(config) == shipped_weights_path("stdnet-lite", model.scale, model.directions)
        assert config.data.patch % model.scale == 0
    for name in names:  # the interim CPU runs: the same shipped path; fine-tunes start from shipped weights
        cpu = load_config(CONFIGS / f"{name}-cpu.yaml", ["run.weights=shipped"])
        model = cpu.model_config()
        assert weights_path(cpu) == shipped_weights_path("stdnet-lite", model.scale, model.directions)
        assert (
            cpu.data.frames > 2 and cpu.data.patch % model.scale == 0 and cpu.run.out_dir == f"checkpoints/{name}-cpu"
        )
        scratch = name == "stdnet-lite-x4-causal"
        assert (cpu.run.init_weights is None) == scratch
        assert scratch or Path(cpu.run.init_weights) == Path("stdnet_ros/weights/stdnet-lite-x4-causal.safetensors")
    for mode in ("causal", "bidirectional"):  # the x4 files' second stage starts from, and replaces, the shipped file
        tc = load_config(CONFIGS / f"stdnet-lite-x4-{mode}-tc-cpu.yaml", ["run.weights=shipped"])
        shipped = shipped_weights_path("stdnet-lite", 4, mode)
        assert weights_path(tc) == shipped and Path(tc.run.init_weights).resolve() == shipped.resolve()
        assert tc.loss.gamma_tc > 0 and tc.validation.every == 0 and tc.optim.precision == "fp32"


def test_config_base_overrides_and_errors(tmp_path):
    (tmp_path / "base.yaml").write_text("optim: {lr: 2.0e-4, batch_size: 3}\ndata: {patch: 64}\n")
    (tmp_path / "run.yaml").write_text("base: base.yaml\noptim: {batch_size: 5}\nmodel: {scale: 8}\n")
    config = load_config(tmp_path / "run.yaml", ["optim.milestones=[10, 20]", "optim.gamma=0.5"])
    assert (config.optim.lr, config.optim.batch_size, config.data.patch) == (2e-4, 5, 64)
    assert config.model_config().scale == 8 and config.model_config().channels == 32  # stdnet-lite default
    assert [learning_rate(config.optim, s) for s in (0, 9, 10, 20)] == [2e-4, 2e-4, 1e-4, 5e-5]
    bad = [
        ("data: {pach: 64}\n", r"run.yaml: data: unknown key\(s\) \['pach'\]"),
        ("optim: {batch_size: four}\n", r"run.yaml: optim.batch_size: expected int"),
        ("model: {scale: 5}\n", "run.yaml: model: .*scale must be one of"),
        ("data: {patch: 36}\nmodel: {scale: 8}\n", "run.yaml: data.patch: a positive multiple of the scale 8"),
        ("data: {source: folders}\n", "run.yaml: data.roots: dataset folders are needed"),
        ("trainer: {}\n", r"run.yaml: unknown section\(s\) \['trainer'\]"),
        ("optim: {precision: fp16}\n", r"run.yaml: optim.precision: expected one of \('auto', 'fp32', 'bf16'\)"),
    ]
    for text, message in bad:
        (tmp_path / "run.yaml").write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_config(tmp_path / "run.yaml")
    with pytest.raises(ConfigError, match="expected section.key=value"):
        load_config(None, ["lr=3"])


def tiny_training_parts(seed=0):
    torch.manual_seed(seed)
    model = build_model("stdnet", stages=1, **TINY)
    loss = STDNetLoss(model.config.channels)
    optimizer = torch.optim.Adam(list(model.parameters()) + list(loss.parameters()), lr=1e-3)
    return model, loss, optimizer


def test_checkpoint_round_trip_restores_model_loss_and_adam(tmp_path):
    model, loss, optimizer = tiny_training_parts()
    rgb, lr, gt = torch.rand(1, 3, 3, 16, 16), torch.rand(1, 3, 1, 4, 4) + 1, torch.rand(1, 3, 1, 16, 16) + 1
    pred, aux = model(lr, rgb, return_aux=True)
    loss(pred, gt, aux)["total"].backward()
    optimizer.step()
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model, loss, optimizer, step=17, run_state={"best": {"rmse_cm": 3.5}})
    with safe_open(str(path), framework="pt") as f:  # a real safetensors file: tensors plus JSON metadata
        assert json.loads(f.metadata()["run"]) == {"best": {"rmse_cm": 3.5}}
        assert any(k.startswith("optim/") and k.endswith("/exp_avg_sq") for k in f.keys())
    model2, loss2, optimizer2 = tiny_training_parts(seed=1)
    step, state = load_checkpoint(path, model2, loss2, optimizer2)
    assert step == 17 and state["best"]["rmse_cm"] == 3.5
    for a, b in ((model, model2), (loss, loss2)):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    s1, s2 = optimizer.state_dict(), optimizer2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    assert all(torch.equal(s1["state"][i][k], s2["state"][i][k]) for i in s1["state"] for k in s1["state"][i])
    other = build_model("stdnet", stages=1, **{**TINY, "channels": 8})
    with pytest.raises(CheckpointError, match="ckpt.safetensors: model config"):
        load_checkpoint(path, other, loss2, optimizer2)


def train_args(out, *extra):
    return [
        "train",
        "--config",
        str(CONFIGS / "stdnet-lite-x4-causal.yaml"),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--weights-out",
        str(out / "final.safetensors"),
        "--set",
        "data.patch=32",
        "--set",
        "data.width=64",
        "--set",
        "data.height=48",
        "--set",
        "data.sequences=3",
        "--set",
        "data.frames=4",
        "--set",
        "data.workers=0",
        "--set",
        "data.cache_dir=null",
        "--set",
        "model.channels=16",
        "--set",
        "optim.batch_size=1",
        "--set",
        "optim.iterations=4",
        "--set",
        "optim.milestones=[3]",
        "--set",
        "run.log_every=1",
        "--set",
        "run.checkpoint_every=100",
        "--set",
        "validation.every=2",
        "--set",
        "validation.sequences=1",
        "--set",
        "validation.frames=3",
        "--set",
        "validation.width=64",
        "--set",
        "validation.height=48",
        *extra,
    ]


def read_log(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


LOSS_COLUMNS = ("step", "clips", "lr", "loss", "rec", "sd", "td", "grad_norm")


def test_train_resumes_exactly_in_chunks(tmp_path, capsys):
    whole, chunked = tmp_path / "whole", tmp_path / "chunked"
    assert cli.main(train_args(whole)) == 0
    assert cli.main(train_args(chunked, "--max-minutes", "0")) == 0  # stops after its first step
    assert "stopped early" in capsys.readouterr().err
    assert load_file(str(chunked / "last.safetensors")) and not (chunked / "final.safetensors").exists()
    with safe_open(str(chunked / "last.safetensors"), framework="pt") as f:
        assert f.metadata()["step"] == "1"
    assert cli.main(train_args(chunked, "--max-iters", "2")) == 0  # steps 2-3
    assert cli.main(train_args(chunked)) == 0  # step 4, then the weights
    assert "resuming" in capsys.readouterr().out

    rows = {name: read_log(folder / "log.csv") for name, folder in (("whole", whole), ("chunked", chunked))}
    train_rows = {k: [[r[c] for c in LOSS_COLUMNS] for r in v if r["loss"]] for k, v in rows.items()}
    assert train_rows["whole"] == train_rows["chunked"] and len(train_rows["whole"]) == 4
    assert [float(r[2]) for r in train_rows["whole"]] == [1e-4, 1e-4, 1e-4, 2e-5]  # milestone at step 3
    val_rows = [r for r in rows["whole"] if r["val_rmse_cm"]]
    assert [r["step"] for r in val_rows] == ["0", "2", "4"] and all(float(r["val_rmse_cm"]) > 0 for r in val_rows)
    a, b = load_file(str(whole / "final.safetensors")), load_file(str(chunked / "final.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not any(k.startswith(("loss/", "optim/")) for k in a)  # weights only: no loss, no optimizer state
    model = load_weights(whole / "final.safetensors", scale=4, directions="causal")
    with safe_open(str(whole / "best.safetensors"), framework="pt") as f:
        best = json.loads(f.metadata()["run"])["best"]
        best_model = {k[len("model/") :]: f.get_tensor(k) for k in f.keys() if k.startswith("model/")}
    assert best["rmse_cm"] == min(float(r["val_rmse_cm"]) for r in val_rows)
    assert all(torch.equal(v, best_model[k]) for k, v in model.state_dict().items())  # shipped = best val


def test_train_cli_reports_config_errors(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("optim: {iterations: -1}\n")
    assert cli.main(["train", "--config", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "bad.yaml: optim: iterations" in capsys.readouterr().err
    assert cli.main(["train", "--set", "data.cache_dir=null"]) == 2
    assert "run.out_dir: not set" in capsys.readouterr().err


def test_init_weights_fine_tunes_across_scale_and_direction_but_not_architecture(tmp_path, capsys):
    torch.manual_seed(3)
    source = build_model("stdnet-lite", channels=16, scale=8, directions="bidirectional")
    save_weights(source, tmp_path / "x8-bidir.safetensors")
    model = build_model("stdnet-lite", channels=16, scale=4, directions="causal")
    initialise_from(model, str(tmp_path / "x8-bidir.safetensors"))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), source.state_dict().values()))
    with pytest.raises(ConfigError, match=r"x8-bidir.safetensors: another architecture: channels=16 \(this run: 8\)"):
        initialise_from(build_model("stdnet-lite", channels=8, reduction=4), str(tmp_path / "x8-bidir.safetensors"))
    out = tmp_path / "run"
    assert (
        cli.main(
            train_args(out, "--set", f"run.init_weights={tmp_path / 'x8-bidir.safetensors'}", "--max-minutes", "0")
        )
        == 0
    )
    assert "starting from the weights" in capsys.readouterr().out
    assert (
        cli.main(
            train_args(
                tmp_path / "other",
                "--set",
                "model.channels=8",
                "--set",
                "model.reduction=4",
                "--set",
                f"run.init_weights={tmp_path / 'x8-bidir.safetensors'}",
            )
        )
        == 2
    )
    assert "another architecture" in capsys.readouterr().err


@pytest.mark.parametrize("stages", [1, 2])
def test_training_from_scratch_starts_at_the_upsampled_lr(stages):
    model = build_model("stdnet", stages=stages, directions="causal", **TINY)
    rgb, lr = torch.rand(1, 3, 3, 32, 32), torch.rand(1, 3, 1, 8, 8) * 3 + 0.5
    with torch.no_grad():
        lq4, scale_m = model.normalised_lr(lr[0])
        base = F.interpolate(lq4, scale_factor=4, mode="bilinear") * scale_m
        assert (model(lr, rgb)[0] - base).abs().max() > 1e-3  # the default init: a small random residual
        start_at_upsampled_lr(model)
        torch.testing.assert_close(model(lr, rgb)[0], base)


def test_a_bf16_step_runs_the_network_in_bf16_and_keeps_loss_and_gradients_fp32_and_close():
    model, loss, _ = tiny_training_parts()
    g = torch.Generator().manual_seed(1)
    lr, rgb = torch.rand(2, 4, 1, 8, 8, generator=g) * 3 + 0.5, torch.rand(2, 4, 3, 32, 32, generator=g)
    gt = F.interpolate(lr.flatten(0, 1), scale_factor=4, mode="bicubic").unflatten(0, (2, 4))
    grads = {}
    for bf16 in (False, True):
        module, dtypes = TrainModule(model, loss, bf16=bf16), set()
        hook = model.stages[0].trunk.register_forward_hook(lambda m, i, out, seen=dtypes: seen.add(out.dtype))
        module.zero_grad()
        losses = module(lr, rgb, gt)
        losses["total"].backward()
        hook.remove()
        assert dtypes == {torch.bfloat16 if bf16 else torch.float32} and losses["total"].dtype == torch.float32
        grads[bf16] = torch.cat([p.grad.flatten() for p in module.parameters() if p.grad is not None])
        assert grads[bf16].dtype == torch.float32 and torch.isfinite(grads[bf16]).all()
    assert F.cosine_similarity(grads[True], grads[False], dim=0) > 0.99


def test_a_diverging_run_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    # lr 1e30: the first update blows the weights up, so the second step's loss is not finite.
    code = cli.main(
        train_args(out, "--set", "optim.lr=1e30", "--set", "run.checkpoint_every=1", "--set", "validation.every=0")
    )
    err = capsys.readouterr().err
    assert code == 3 and "diverged: step 2: non-finite loss" in err and "last.safetensors" in err
    with safe_open(str(out / "last.safetensors"), framework="pt") as f:
        assert f.metadata()["step"] == "1"
        assert all(torch.isfinite(f.get_tensor(k)).all() for k in f.keys() if k.startswith("model/"))


def test_warm_up_then_step_decay():
    config = load_config(None, ["optim.lr=1e-3", "optim.warmup=4", "optim.milestones=[10]", "optim.gamma=0.5"])
    assert [learning_rate(config.optim, s) for s in (0, 1, 3, 9, 10)] == pytest.approx([2.5e-4, 5e-4, 1e-3, 1e-3, 5e-4])
