import math

import numpy as np
import pytest

from stdnet_ros.depth.geometry import Intrinsics
from stdnet_ros.evaluation.metrics import SequenceMetrics, flow_from_depth_and_poses, forward_splat, mean_over_sequences

SCALE = 4
H, W = 32, 48


def _scene(t=0):
    """(H, W) GT depth in metres with structure, and its (H/4, W/4) LR (block mean)."""
    v, u = np.mgrid[0:H, 0:W]
    gt = (2.0 + 0.02 * u + 0.01 * v + 0.1 * t).astype(np.float32)
    gt[8:20, 12:30] = 1.2
    lr = gt.reshape(H // SCALE, SCALE, W // SCALE, SCALE).mean(axis=(1, 3))
    return gt, lr


def _zero_flow():
    return np.zeros((H, W, 2), np.float32)


def test_constant_error_gives_that_rmse_mae_and_edge_rmse():
    m = SequenceMetrics(SCALE)
    for t in range(3):
        gt, lr = _scene(t)
        m.add(gt + 0.03, gt, lr)
    r = m.result()
    assert r["rmse_cm"] == pytest.approx(3.0, rel=1e-5)
    assert r["mae_cm"] == pytest.approx(3.0, rel=1e-5)
    assert r["edge_rmse_cm"] == pytest.approx(3.0, rel=1e-5)
    assert r["coverage"] == 1.0 and r["frames"] == 3 and r["tepe_cm"] is None


def test_errors_are_pooled_over_pixels_not_averaged_over_frames():
    gt, lr = _scene()
    gt_half = gt.copy()
    gt_half[: H // 2] = 0.0  # invalid GT: half of the pixels of this frame do not count
    m = SequenceMetrics(SCALE)
    m.add(gt + 0.03, gt, lr)  # H*W pixels with 3 cm
    m.add(gt_half + 0.06, gt_half, lr)  # H*W/2 pixels with 6 cm
    r = m.result()
    assert r["rmse_cm"] == pytest.approx(math.sqrt((2 * 9 + 36) / 3), rel=1e-5)
    assert r["mae_cm"] == pytest.approx((2 * 3 + 6) / 3, rel=1e-5)


def test_invalid_gt_pixels_are_ignored():
    gt, lr = _scene()
    pred = gt + 0.02
    gt_holes = gt.copy()
    gt_holes[0:4, :] = np.nan
    gt_holes[:, 0:3] = 0.0
    pred[0:4, :] = 100.0  # wild predictions where GT is missing must not count
    pred[:, 0:3] = -5.0
    m = SequenceMetrics(SCALE)
    m.add(pred, gt_holes, lr)
    assert m.result()["rmse_cm"] == pytest.approx(2.0, rel=1e-5)


def test_nan_predictions_lower_coverage_and_are_not_scored():
    gt, lr = _scene()
    pred = gt + 0.05
    pred[:8, :] = np.nan  # a quarter of the rows
    m = SequenceMetrics(SCALE)
    m.add(pred, gt, lr)
    r = m.result()
    assert r["coverage"] == pytest.approx(0.75)
    assert r["rmse_cm"] == pytest.approx(5.0, rel=1e-5)


def test_no_finite_prediction_gives_none_errors():
    gt, lr = _scene()
    m = SequenceMetrics(SCALE)
    m.add(np.full_like(gt, np.nan), gt, lr)
    r = m.result()
    assert r["coverage"] == 0.0 and r["rmse_cm"] is None and r["mae_cm"] is None and r["edge_rmse_cm"] is None


def test_edge_region_is_the_sequence_top_decile_of_bicubic_error():
    # LR is constant, so bicubic(LR) is exactly 2 m and |GT - bicubic| is the spike we add to GT.
    # Frame 0: 28 % of pixels 0.5 m off; frame 1: 28 % of pixels 0.2 m off. Over the sequence the 0.5 m
    # spikes are 14 % (>= 10 %) and the 0.2 m spikes come below them, so the edge region is frame 0's spikes.
    lr = np.full((H // SCALE, W // SCALE), 2.0, np.float32)
    spikes = np.zeros((H, W), bool)
    spikes[:9, :] = True  # 9 of 32 rows: 28 %
    m = SequenceMetrics(SCALE)
    for spike_m, pred_error_m in ((0.5, 0.05), (0.2, 0.01)):
        gt = np.where(spikes, 2.0 + spike_m, 2.0).astype(np.float32)
        m.add(gt + np.where(spikes, pred_error_m, 0.0).astype(np.float32), gt, lr)
    r = m.result()
    assert r["edge_rmse_cm"] == pytest.approx(5.0, rel=1e-4)
    share = spikes.mean()
    assert r["rmse_cm"] == pytest.approx(math.sqrt(share * (25 + 1) / 2), rel=1e-4)


def test_edge_region_uses_bicubic_of_the_lr_input():
    # A depth step inside the LR grid: bicubic errs only around the step, so a prediction that is
    # wrong only away from the step has an edge RMSE of zero, and one wrong only at the step has a large one.
    gt = np.full((H, W), 3.0, np.float32)
    gt[:, : W // 2 + 2] = 1.0
    lr = gt.reshape(H // SCALE, SCALE, W // SCALE, SCALE).mean(axis=(1, 3))
    near_step = np.zeros((H, W), bool)
    near_step[:, W // 2 - 6 : W // 2 + 10] = True
    far_wrong = SequenceMetrics(SCALE)
    far_wrong.add(np.where(near_step, gt, gt + 0.1), gt, lr)
    step_wrong = SequenceMetrics(SCALE)
    step_wrong.add(np.where(near_step, gt + 0.1, gt), gt, lr)
    assert far_wrong.result()["edge_rmse_cm"] == 0.0
    assert step_wrong.result()["edge_rmse_cm"] == pytest.approx(10.0, rel=1e-4)


def test_tepe_is_zero_for_a_static_scene_with_a_temporally_constant_prediction():
    gt, lr = _scene()
    rng = np.random.default_rng(0)
    pred = gt + rng.normal(0, 0.05, gt.shape).astype(np.float32)  # wrong, but the same every frame
    m = SequenceMetrics(SCALE)
    for t in range(4):
        m.add(pred, gt, lr, None if t == 0 else _zero_flow())
    r = m.result()
    assert r["tepe_cm"] == 0.0
    assert r["rmse_cm"] > 1.0


def test_tepe_is_zero_when_prediction_equals_gt_in_a_moving_scene():
    intr = Intrinsics(fx=40.0, fy=40.0, cx=(W - 1) / 2, cy=(H - 1) / 2, width=W, height=H)
    m = SequenceMetrics(SCALE)
    prev = None
    for t in range(4):
        gt, lr = _scene()
        pose = np.eye(4)
        pose[:3, 3] = (0.03 * t, 0.01 * t, 0.05 * t)
        flow = None if prev is None else flow_from_depth_and_poses(prev[0], prev[1], pose, intr)
        m.add(gt, gt, lr, flow)
        prev = (gt, pose)
    assert m.result()["tepe_cm"] == 0.0


@pytest.mark.parametrize("shift_px, covered_cols", [(0.0, W), (3.0, W - 3), (2.5, W - 2)])
def test_tepe_of_a_time_varying_bias_is_its_mean_change_times_the_masked_share(shift_px, covered_cols):
    # A fronto-parallel plane seen by a camera moving sideways: every pixel moves by shift_px to the right.
    # A point at x covers the pixel centres closer than 1 px: an integer shift s leaves the first s columns
    # uncovered; a half-pixel shift covers both neighbours, leaving the first floor(s) columns uncovered.
    biases_m = [0.0, 0.04, 0.01, 0.01, -0.03]
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = shift_px
    gt = np.full((H, W), 2.0, np.float32)
    lr = np.full((H // SCALE, W // SCALE), 2.0, np.float32)
    m = SequenceMetrics(SCALE)
    for t, b in enumerate(biases_m):
        m.add(gt + b, gt, lr, None if t == 0 else flow)
    expected_cm = 100 * np.mean(np.abs(np.diff(biases_m))) * covered_cols / W
    assert m.result()["tepe_cm"] == pytest.approx(expected_cm, rel=1e-4)


def test_tepe_leaves_out_masked_pixels_without_a_prediction():
    gt = np.full((H, W), 2.0, np.float32)
    lr = np.full((H // SCALE, W // SCALE), 2.0, np.float32)
    m = SequenceMetrics(SCALE)
    m.add(gt, gt, lr)
    pred = gt + 0.1
    pred[: H // 2] = np.nan
    m.add(pred, gt, lr, _zero_flow())
    # Half the pixels are scored (10 cm change each), the other half have no prediction.
    assert m.result()["tepe_cm"] == pytest.approx(10.0, rel=1e-5)


def test_flow_on_the_first_frame_is_rejected():
    gt, lr = _scene()
    with pytest.raises(ValueError, match="first frame"):
        SequenceMetrics(SCALE).add(gt, gt, lr, _zero_flow())


def test_shape_mismatch_is_rejected():
    gt, lr = _scene()
    with pytest.raises(ValueError, match="shapes"):
        SequenceMetrics(8).add(gt, gt, lr)


def test_forward_splat_keeps_the_nearest_depth():
    depth = np.full((4, 6), 5.0, np.float32)
    depth[:, 1] = 1.0
    flow = np.zeros((4, 6, 2), np.float32)
    flow[:, 1, 0] = 1.0  # the near column moves onto the far column 2
    flow[:, 4, 0] = -1.0  # a far column moves onto the far column 3: a tie at 5 m
    warped = forward_splat(depth, flow)
    np.testing.assert_array_equal(warped[:, 2], 1.0)
    assert np.isnan(warped[:, 1]).all() and np.isnan(warped[:, 4]).all()  # nothing landed there
    np.testing.assert_array_equal(warped[:, 3], 5.0)


def test_forward_splat_drops_invalid_depth_and_points_leaving_the_image():
    depth = np.full((4, 6), 2.0, np.float32)
    depth[0, 0] = 0.0
    depth[1, 1] = np.nan
    flow = np.zeros((4, 6, 2), np.float32)
    flow[3, :, 1] = 5.0  # the last row leaves the image
    warped = forward_splat(depth, flow)
    assert np.isnan(warped[0, 0]) and np.isnan(warped[1, 1]) and np.isnan(warped[3]).all()
    assert np.isfinite(warped[:3]).sum() == 3 * 6 - 2


def test_flow_from_poses_of_a_sideways_camera_over_a_plane():
    intr = Intrinsics(fx=50.0, fy=50.0, cx=23.5, cy=15.5, width=W, height=H)
    depth = np.full((H, W), 2.0, np.float32)
    depth[0, 0] = 0.0
    pose_cur = np.eye(4)
    pose_cur[:3, 3] = (0.1, -0.04, 0.0)  # camera moves right and up: the scene moves left and down
    flow = flow_from_depth_and_poses(depth, np.eye(4), pose_cur, intr)
    assert flow.shape == (H, W, 2) and flow.dtype == np.float32
    assert np.isnan(flow[0, 0]).all()
    np.testing.assert_allclose(flow[1:, :, 0], -50.0 * 0.1 / 2.0, rtol=1e-5)
    np.testing.assert_allclose(flow[1:, :, 1], 50.0 * 0.04 / 2.0, rtol=1e-5)
    np.testing.assert_allclose(flow_from_depth_and_poses(depth, pose_cur, pose_cur, intr)[1:], 0.0, atol=1e-5)


def test_flow_from_poses_of_a_camera_moving_forward_is_radial():
    intr = Intrinsics(fx=50.0, fy=50.0, cx=23.5, cy=15.5, width=W, height=H)
    depth = np.full((H, W), 2.0, np.float32)
    pose_cur = np.eye(4)
    pose_cur[2, 3] = 1.0  # halfway to the plane: every offset from the principal point doubles
    flow = flow_from_depth_and_poses(depth, np.eye(4), pose_cur, intr)
    v, u = np.mgrid[0:H, 0:W]
    np.testing.assert_allclose(flow[..., 0], u - intr.cx, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(flow[..., 1], v - intr.cy, rtol=1e-5, atol=1e-4)


def test_mean_over_sequences_skips_missing_values():
    a = {"rmse_cm": 2.0, "mae_cm": 1.0, "edge_rmse_cm": 4.0, "tepe_cm": None, "coverage": 1.0, "frames": 10}
    b = {"rmse_cm": 4.0, "mae_cm": 3.0, "edge_rmse_cm": 8.0, "tepe_cm": 1.5, "coverage": 0.5, "frames": 5}
    mean = mean_over_sequences([a, b])
    assert mean == {
        "sequences": 2,
        "frames": 15,
        "rmse_cm": 3.0,
        "mae_cm": 2.0,
        "edge_rmse_cm": 6.0,
        "tepe_cm": 1.5,
        "coverage": 0.75,
    }


def test_flow_of_the_wrong_shape_is_rejected():
    gt, lr = _scene()
    m = SequenceMetrics(SCALE)
    m.add(gt, gt, lr)
    with pytest.raises(ValueError, match="flow"):
        m.add(gt, gt, lr, np.zeros((H, W), np.float32))
