import cv2
import numpy as np
import pytest

from stdnet_ros.evaluation.baselines import BASELINES, run_baseline

GUIDED = ("guided-filter", "joint-bilateral", "fast-global-smoother")


def _flat_rgb(h, w):
    rng = np.random.default_rng(1)
    return np.clip(rng.normal(120, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def _step_scene(scale, h=96, w=256):
    """GT: 1 m left of an edge, 3 m right of it; the RGB has its colour edge at the same column.

    The edge is off the LR block grid so that one LR column mixes both depths.
    """
    edge = w // 2 + scale // 2 + 1
    gt = np.full((h, w), 3.0, np.float32)
    gt[:, :edge] = 1.0
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[:, :edge] = (200, 180, 40)
    rgb[:, edge:] = (30, 90, 160)
    lr = cv2.resize(src=gt, dsize=(w // scale, h // scale), interpolation=cv2.INTER_AREA)
    return gt, rgb, lr, edge


@pytest.mark.parametrize("name", sorted(BASELINES))
@pytest.mark.parametrize("scale", [4, 8])
def test_constant_plane_stays_constant(name, scale):
    lr = np.full((12, 16), 2.5, np.float32)
    out = run_baseline(name, lr, _flat_rgb(12 * scale, 16 * scale), scale)
    assert out.shape == (12 * scale, 16 * scale) and out.dtype == np.float32
    np.testing.assert_allclose(out, 2.5, atol=1e-4)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_invalid_lr_gives_nan_block_and_does_not_bleed(name):
    scale = 4
    lr = np.full((12, 16), 2.5, np.float32)
    lr[3:5, 6:8] = 0.0
    lr[9, 2] = np.nan
    lr[0, 0] = 0.0  # a corner hole: the border must not bleed either
    out = run_baseline(name, lr, _flat_rgb(48, 64), scale)
    hole = np.zeros((48, 64), bool)
    hole[12:20, 24:32] = True
    hole[36:40, 8:12] = True
    hole[0:4, 0:4] = True
    assert np.isnan(out[hole]).all()
    # A zero that bled into its neighbours would pull them towards 0 m.
    np.testing.assert_allclose(out[~hole], 2.5, atol=1e-4)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_all_invalid_lr_gives_all_nan(name):
    lr = np.zeros((6, 8), np.float32)
    assert np.isnan(run_baseline(name, lr, _flat_rgb(24, 32), 4)).all()


@pytest.mark.parametrize("name", GUIDED)
@pytest.mark.parametrize("scale", [4, 8])
def test_guided_methods_sharpen_an_edge_aligned_with_rgb(name, scale):
    gt, rgb, lr, edge = _step_scene(scale)
    band = slice(edge - 2 * scale, edge + 2 * scale)

    def edge_rmse(method):
        return np.sqrt(np.mean((run_baseline(method, lr, rgb, scale) - gt)[:, band] ** 2))

    assert edge_rmse(name) < 0.9 * edge_rmse("bicubic")


def test_nearest_repeats_each_lr_pixel_over_its_block():
    lr = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
    out = run_baseline("nearest", lr, _flat_rgb(12, 16), 4)
    np.testing.assert_array_equal(out, np.kron(lr, np.ones((4, 4), np.float32)))


def test_bicubic_uses_pixel_centre_convention():
    # LR pixel j samples a ramp at its HR-grid centre s*j + (s-1)/2. OpenCV's cubic kernel (a = -0.75)
    # ripples around a ramp but does not shift it: the mean error is zero, and every error is below a
    # quarter of an HR pixel of the ramp, whereas a corner (top-left) convention would shift it by 1.5 px.
    scale, slope = 4, 0.01
    lr_cols = np.arange(16)
    lr = np.tile(1.0 + slope * (scale * lr_cols + (scale - 1) / 2), (8, 1)).astype(np.float32)
    out = run_baseline("bicubic", lr, _flat_rgb(32, 64), scale)
    inner = slice(2 * scale, 64 - 2 * scale)
    error = (out - (1.0 + slope * np.arange(64)))[:, inner]
    assert abs(error.mean()) < 1e-5
    assert np.abs(error).max() < 0.25 * slope


def test_guide_must_match_the_hr_grid():
    lr = np.full((6, 8), 2.0, np.float32)
    with pytest.raises(ValueError, match="rgb"):
        run_baseline("guided-filter", lr, _flat_rgb(20, 32), 4)


def test_unknown_baseline_is_rejected():
    with pytest.raises(ValueError, match="unknown baseline"):
        run_baseline("bilinear", np.ones((2, 2), np.float32), _flat_rgb(8, 8), 4)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_depth_units_do_not_matter(name):
    # The guided filters weigh by the RGB guide only, so they are linear in depth: no normalisation of
    # depth is needed, and depth in millimetres gives 1000x the result in metres.
    rng = np.random.default_rng(2)
    lr = rng.uniform(0.5, 6.0, (12, 16)).astype(np.float32)
    rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    metres = run_baseline(name, lr, rgb, 4)
    np.testing.assert_allclose(run_baseline(name, 1000 * lr, rgb, 4), 1000 * metres, rtol=1e-5, atol=1e-3)
