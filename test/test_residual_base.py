"""The residual bases and the per-frame depth scale."""

import cv2
import numpy as np
import pytest
import torch

from stdnet_ros.evaluation.baselines import (
    JOINT_BILATERAL_DIAMETER_PX,
    JOINT_BILATERAL_SIGMA_COLOR,
    JOINT_BILATERAL_SIGMA_SPACE_PX,
)
from stdnet_ros.model.normalisation import EMPTY_FRAME_SCALE_M, frame_scale
from stdnet_ros.model.residual_base import (
    BASES,
    GUIDED_EPS,
    GUIDED_RADIUS_PX,
    JBF_RADIUS_PX,
    JBF_SIGMA_COLOUR,
    JBF_SIGMA_SPACE_PX,
    guided_filter,
    joint_bilateral,
    joint_bilateral_reference,
    residual_base,
)


def test_guided_filter_matches_opencv_away_from_the_border():
    g = np.random.default_rng(0)
    guide = g.random((40, 56)).astype(np.float32)
    src = (np.where(guide > 0.5, 2.0, 1.0) + 0.1 * g.random((40, 56))).astype(np.float32)
    expected = cv2.ximgproc.guidedFilter(guide=guide, src=src, radius=GUIDED_RADIUS_PX, eps=GUIDED_EPS)
    got = guided_filter(torch.from_numpy(guide)[None, None], torch.from_numpy(src)[None, None])[0, 0].numpy()
    r = 2 * GUIDED_RADIUS_PX  # the two box passes reach 2r; OpenCV reflects at the border, we clip the window
    np.testing.assert_allclose(got[r:-r, r:-r], expected[r:-r, r:-r], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", BASES)
def test_bases_are_linear_in_depth(kind):
    g = torch.Generator().manual_seed(0)
    lq4, rgb = torch.rand(2, 1, 8, 12, generator=g) + 0.5, torch.rand(2, 3, 32, 48, generator=g)
    torch.testing.assert_close(residual_base(kind, 3 * lq4, rgb), 3 * residual_base(kind, lq4, rgb))


def test_joint_bilateral_is_the_baselines_filter():
    """Same window and sigmas as the joint-bilateral baseline, and close to OpenCV's filter (which quantises its
    colour weights in a lookup table) away from the border, where OpenCV reflects and we clip the window."""
    assert (2 * JBF_RADIUS_PX + 1, JBF_SIGMA_SPACE_PX, JBF_SIGMA_COLOUR) == (
        JOINT_BILATERAL_DIAMETER_PX,
        JOINT_BILATERAL_SIGMA_SPACE_PX,
        JOINT_BILATERAL_SIGMA_COLOR,
    )
    g = np.random.default_rng(0)
    rgb = ((g.random((40, 56, 3)) > 0.5) * 0.8 + 0.1 * g.random((40, 56, 3))).astype(np.float32)
    src = (1.0 + rgb[..., 0] + 0.05 * g.random((40, 56))).astype(np.float32)
    expected = cv2.ximgproc.jointBilateralFilter(
        joint=rgb,
        src=src,
        d=JOINT_BILATERAL_DIAMETER_PX,
        sigmaColor=JOINT_BILATERAL_SIGMA_COLOR,
        sigmaSpace=JOINT_BILATERAL_SIGMA_SPACE_PX,
    )
    got = joint_bilateral(torch.from_numpy(rgb).permute(2, 0, 1)[None], torch.from_numpy(src)[None, None])[0, 0]
    r = JBF_RADIUS_PX
    difference = np.abs(got.numpy() - expected)[r:-r, r:-r]
    assert difference.mean() < 2e-3 and difference.max() < 2e-2


@pytest.mark.parametrize(
    ("height", "width", "radius"), [(40, 56, JBF_RADIUS_PX), (9, 13, JBF_RADIUS_PX), (17, 6, 2), (5, 5, 1)]
)
def test_joint_bilateral_equals_the_tap_by_tap_reference(height, width, radius):
    """The half-window filter gives the reference's values (metres, to 1e-5 on depths of 1-3 m) and gradients,
    also on images smaller than the window and with odd sizes."""
    g = torch.Generator().manual_seed(height * width + radius)
    shape = (2, 3, height, width)
    rgb = (torch.rand(shape, generator=g) > 0.5) * 0.8 + 0.1 * torch.rand(shape, generator=g)
    src = (1.0 + 2.0 * torch.rand(2, 1, height, width, generator=g)).requires_grad_()
    fast, reference = joint_bilateral(rgb, src, radius), joint_bilateral_reference(rgb, src, radius)
    torch.testing.assert_close(fast, reference, rtol=0, atol=1e-5)
    probe = torch.rand(fast.shape, generator=g)
    (fast_grad,) = torch.autograd.grad((fast * probe).sum(), src)
    (reference_grad,) = torch.autograd.grad((reference * probe).sum(), src)
    torch.testing.assert_close(fast_grad, reference_grad, rtol=0, atol=1e-5)


def test_joint_bilateral_base_snaps_a_blurred_depth_edge_to_the_rgb_edge():
    """A depth step that bilinear upsampling spreads over several HR pixels jumps where the RGB edge is."""
    lq4 = torch.ones(1, 1, 8, 8)
    lq4[..., 4:] = 2.0  # depth step between LR columns 3 and 4 = HR column 16
    rgb = torch.zeros(1, 3, 32, 32)
    rgb[..., 16:] = 1.0
    bilinear, sharp = residual_base("bilinear", lq4, rgb), residual_base("joint-bilateral", lq4, rgb)

    def jump(depth):  # across the RGB edge, between HR columns 15 and 16
        return (depth[..., 16] - depth[..., 15]).min()

    assert jump(sharp) > 0.75 and jump(bilinear) < 0.3


def test_frame_scale_is_the_lower_median_of_each_frames_valid_pixels():
    depth = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, float("nan"), 5.0, 7.0], [0.0, float("inf"), -1.0, 0.0]])
    scale = frame_scale(depth.view(3, 1, 2, 2))
    assert scale.shape == (3, 1, 1, 1)
    assert scale.flatten().tolist() == [2.0, 5.0, EMPTY_FRAME_SCALE_M]
