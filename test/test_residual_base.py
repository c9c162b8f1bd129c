"""The residual bases and the per-frame depth scale."""
import cv2
import numpy as np
import pytest
import torch

from stdnet_ros.model.normalisation import EMPTY_FRAME_SCALE_M, frame_scale
from stdnet_ros.model.residual_base import GUIDED_EPS, GUIDED_RADIUS_PX, guided_filter, residual_base


def test_guided_filter_matches_opencv_away_from_the_border():
    g = np.random.default_rng(0)
    guide = g.random((40, 56)).astype(np.float32)
    src = (np.where(guide > 0.5, 2.0, 1.0) + 0.1 * g.random((40, 56))).astype(np.float32)
    expected = cv2.ximgproc.guidedFilter(guide=guide, src=src, radius=GUIDED_RADIUS_PX, eps=GUIDED_EPS)
    got = guided_filter(torch.from_numpy(guide)[None, None], torch.from_numpy(src)[None, None])[0, 0].numpy()
    r = 2 * GUIDED_RADIUS_PX  # the two box passes reach 2r; OpenCV reflects at the border, we clip the window
    np.testing.assert_allclose(got[r:-r, r:-r], expected[r:-r, r:-r], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["bilinear", "guided"])
def test_bases_are_linear_in_depth(kind):
    g = torch.Generator().manual_seed(0)
    lq4, rgb = torch.rand(2, 1, 8, 12, generator=g) + 0.5, torch.rand(2, 3, 32, 48, generator=g)
    torch.testing.assert_close(residual_base(kind, 3 * lq4, rgb), 3 * residual_base(kind, lq4, rgb))


def test_frame_scale_is_the_lower_median_of_each_frames_valid_pixels():
    depth = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, float("nan"), 5.0, 7.0], [0.0, float("inf"), -1.0, 0.0]])
    scale = frame_scale(depth.view(3, 1, 2, 2))
    assert scale.shape == (3, 1, 1, 1)
    assert scale.flatten().tolist() == [2.0, 5.0, EMPTY_FRAME_SCALE_M]
