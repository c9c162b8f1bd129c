"""LR depth simulation: dToF peak histogram, area, nearest, bicubic, noise and dropout."""

import numpy as np
import pytest
import torch

from stdnet_ros.depth.degradation import KINDS, SENSORS, Degradation, degrade, degrade_numpy


def _rgb(value: float, h: int, w: int) -> torch.Tensor:
    return torch.full((3, h, w), value)


def _reference_dtof(depth: np.ndarray, albedo: np.ndarray, s: int, range_m: float, bins: int) -> np.ndarray:
    """Straightforward per-block loop with np.bincount, as in DVSR's simulator."""
    h, w = depth.shape
    out = np.zeros((h // s, w // s), np.float32)
    for i in range(h // s):
        for j in range(w // s):
            d = np.clip(depth[i * s : (i + 1) * s, j * s : (j + 1) * s], 0, range_m).ravel() / range_m
            a = albedo[i * s : (i + 1) * s, j * s : (j + 1) * s].ravel()
            weight = a / (d * d + 1e-3) * (d > 0)
            hist = np.bincount(np.round(d * (bins - 1)).astype(int), weights=weight, minlength=bins)
            out[i, j] = np.float32(np.argmax(hist)) / (bins - 1) * range_m if hist.max() > 0 else 0.0
    return out


@pytest.mark.parametrize("s", [4, 8, 16])
def test_output_shape_for_each_scale(s):
    depth = torch.full((2, 5, 64, 96), 3.0)
    rgb = torch.rand(2, 5, 3, 64, 96)
    for kind in KINDS:
        assert degrade(depth, rgb, s, kind).shape == (2, 5, 64 // s, 96 // s), kind


@pytest.mark.parametrize("s", [4, 8, 16])
def test_dtof_on_a_constant_plane_returns_the_nearest_bin(s):
    plane = 3.337
    lr = degrade(torch.full((64, 64), plane), torch.rand(3, 64, 64), s)
    step = 100.0 / 1023
    nearest_bin = round(plane / step) * step
    assert torch.allclose(lr, torch.full_like(lr, nearest_bin), atol=1e-5)
    assert abs(nearest_bin - plane) <= step / 2


def test_dtof_bins_quantise_to_range_over_bins_minus_one():
    # 11 bins over 10 m: bin centres every 1 m.
    depth = torch.tensor([[3.4, 3.4], [3.4, 3.4]]).repeat(2, 2)
    depth[:2, 2:] = 3.6
    lr = degrade(depth, _rgb(1.0, 4, 4), 2, range_m=10.0, bins=11)
    assert lr.tolist() == [[3.0, 4.0], [3.0, 3.0]]
    values = degrade(torch.rand(64, 64) * 8 + 0.5, torch.rand(3, 64, 64), 4)
    steps = values / (100.0 / 1023)
    assert torch.allclose(steps, steps.round(), atol=1e-4)


def test_dtof_bright_near_surface_wins_at_a_depth_edge():
    depth = torch.full((8, 8), 6.0)
    depth[:, :3] = 2.0  # the near surface covers only 3 of 8 columns
    rgb = _rgb(0.5, 8, 8)
    rgb[:, :, :3] = 1.0
    lr = degrade(depth, rgb, 8, range_m=10.0, bins=1024)
    assert abs(float(lr) - 2.0) < 10.0 / 1023
    # Albedo matters: a very dark near surface loses to the bright far one.
    rgb[:, :, :3] = 0.02
    lr = degrade(depth, rgb, 8, range_m=10.0, bins=1024)
    assert abs(float(lr) - 6.0) < 10.0 / 1023


def test_dtof_matches_a_per_block_reference_loop():
    gen = np.random.default_rng(0)
    h, w = 48, 64
    # Piecewise-constant surfaces with random edges, plus holes and out-of-range values.
    depth = np.repeat(np.repeat(gen.uniform(0.5, 12.0, (h // 2, w // 2)), 2, 0), 2, 1).astype(np.float32)
    depth[gen.uniform(size=(h, w)) < 0.1] = 0.0
    depth[0, :5] = 150.0
    rgb = gen.integers(0, 256, (h, w, 3), dtype=np.uint8)
    for s, range_m, bins in [(4, 100.0, 1024), (8, 10.0, 1024), (16, 20.0, 64)]:
        lr = degrade_numpy(depth, rgb, s, Degradation(range_m=range_m, bins=bins))
        ref = _reference_dtof(depth, rgb.astype(np.float32).mean(-1) / 255, s, range_m, bins)
        np.testing.assert_allclose(lr, ref, atol=1e-5)


def test_dtof_ignores_invalid_pixels_and_empty_blocks_are_invalid():
    depth = torch.full((8, 16), 4.0)
    depth[:, :8] = 0.0
    depth[0, 8] = float("nan")
    depth[1, 8] = -1.0
    lr = degrade(depth, _rgb(1.0, 8, 16), 8, range_m=10.0, bins=1024)
    assert float(lr[0, 0]) == 0.0
    assert abs(float(lr[0, 1]) - 4.0) < 10.0 / 1023


def test_area_equals_a_plane_and_ignores_invalid_pixels():
    depth = torch.full((16, 32), 2.75)
    assert torch.allclose(degrade(depth, None, 8, "area"), torch.full((2, 4), 2.75))
    depth[:8, :8] = 0.0  # block (0, 0) fully invalid
    depth[8:, :4] = 0.0  # block (1, 0) half invalid
    depth[8:, 4:8] = 3.25
    lr = degrade(depth, None, 8, "area")
    assert float(lr[0, 0]) == 0.0
    assert abs(float(lr[1, 0]) - 3.25) < 1e-6


def test_nearest_takes_the_pixel_at_the_block_centre():
    h, w, s = 16, 32, 4
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    depth = (1.0 + rows * 100 + cols).float()
    lr = degrade(depth, None, s, "nearest")
    i, j = torch.meshgrid(torch.arange(h // s), torch.arange(w // s), indexing="ij")
    assert torch.equal(lr, depth[s * i + s // 2, s * j + s // 2])
    # the same pixel torch's pixel-centre 'nearest-exact' picks
    exact = torch.nn.functional.interpolate(depth[None, None], scale_factor=1 / s, mode="nearest-exact")[0, 0]
    assert torch.equal(lr, exact)


def test_bicubic_keeps_a_plane_and_ignores_sparse_holes():
    depth = torch.full((32, 32), 1.5)
    assert torch.allclose(degrade(depth, None, 4, "bicubic"), torch.full((8, 8), 1.5), atol=1e-5)
    depth[5, 5] = 0.0
    assert torch.allclose(degrade(depth, None, 4, "bicubic"), torch.full((8, 8), 1.5), atol=1e-5)
    depth[:16] = 0.0
    lr = degrade(depth, None, 4, "bicubic")
    assert (lr[:3] == 0).all() and torch.allclose(lr[5:], torch.full((3, 8), 1.5), atol=1e-5)


def test_random_corruptions_are_deterministic_with_a_seeded_generator():
    depth = torch.rand(64, 64) * 5 + 1
    rgb = torch.rand(3, 64, 64)
    noisy = Degradation(kind="area", noise=0.02, dropout=0.1)
    a = noisy.apply(depth, rgb, 4, torch.Generator().manual_seed(1))
    b = noisy.apply(depth, rgb, 4, torch.Generator().manual_seed(1))
    c = noisy.apply(depth, rgb, 4, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    photon = Degradation(photons=50.0)
    assert torch.equal(
        photon.apply(depth, rgb, 4, torch.Generator().manual_seed(3)),
        photon.apply(depth, rgb, 4, torch.Generator().manual_seed(3)),
    )


def test_noise_and_dropout_have_the_requested_strength():
    depth = torch.full((256, 256), 2.0)
    lr = degrade(depth, None, 2, "area", noise=0.05, dropout=0.2, generator=torch.Generator().manual_seed(0))
    dropped = lr == 0
    assert abs(dropped.float().mean().item() - 0.2) < 0.02
    relative = lr[~dropped] / 2.0 - 1.0
    assert abs(relative.std().item() - 0.05) < 0.005


def test_photon_starved_dtof_blocks_drop_out():
    depth = torch.full((64, 64), 2.0)
    rgb = _rgb(1.0, 64, 64)
    rgb[:, :32] = 0.001  # a black surface returns almost no photons
    lr = degrade(depth, rgb, 8, photons=2.0, generator=torch.Generator().manual_seed(0))
    assert (lr[:4] == 0).float().mean() > 0.9
    assert (lr[4:] > 0).all()


@pytest.mark.parametrize("depth_m", [1.234, 2.30, 3.87])
def test_named_sensors_quantise_to_their_bin_width_and_indoor_drops_about_one_percent(depth_m):
    depth, rgb = torch.full((256, 256), depth_m), _rgb(0.5, 256, 256)
    indoor = SENSORS["indoor"].apply(depth, rgb, 4, torch.Generator().manual_seed(0))
    dvsr = SENSORS["dvsr"].apply(depth, rgb, 4)
    valid = indoor > 0
    assert 0.005 < 1 - valid.float().mean().item() < 0.02
    assert (indoor[valid] - depth_m).abs().max() <= 0.005 + 1e-5  # 1 cm bins
    assert (dvsr > 0).all() and (dvsr - depth_m).abs().max() <= 100 / 1023 / 2 + 1e-5  # 9.8 cm bins


def test_numpy_wrapper_matches_torch_with_hwc_rgb():
    gen = np.random.default_rng(1)
    depth = gen.uniform(1, 6, (32, 48)).astype(np.float32)
    rgb = gen.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    lr = degrade_numpy(depth, rgb, 4)
    assert lr.dtype == np.float32 and lr.shape == (8, 12)
    assert np.array_equal(lr, degrade(torch.from_numpy(depth), torch.from_numpy(rgb).permute(2, 0, 1), 4).numpy())


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: degrade(torch.ones(30, 32), torch.ones(3, 30, 32), 4), "not divisible"),
        (lambda: degrade(torch.ones(32, 32), None, 4, "dtof"), "rgb"),
        (lambda: degrade(torch.ones(32, 32), torch.ones(32, 32, 3), 4, "dtof"), "rgb"),
        (lambda: degrade(torch.ones(32, 32), None, 4, "median"), "kind"),
        (lambda: degrade(torch.ones(32, 32), None, 4, "area", photons=5.0), "photons"),
        (lambda: degrade(torch.ones(32, 32), None, 4, "area", dropout=1.5), "dropout"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
