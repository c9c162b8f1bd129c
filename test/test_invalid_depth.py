"""Invalid depth: filling for the network input and NaN for unsupported outputs."""

import torch

from stdnet_ros.depth.invalid_depth import fill_invalid, mask_unsupported, valid_mask


def test_fill_keeps_valid_pixels_and_fills_holes_from_neighbours():
    d = torch.full((1, 1, 9, 13), 2.0)
    d[..., :, 7:] = 4.0
    d[0, 0, 4, 2] = 0.0
    d[0, 0, 1, 10] = float("nan")
    d[0, 0, 6, 11] = float("inf")
    d[0, 0, 7, 1] = -1.0
    filled = fill_invalid(d)
    assert torch.isfinite(filled).all()
    valid = valid_mask(d)
    assert torch.equal(filled[valid], d[valid])
    assert filled[0, 0, 4, 2] == 2.0 and filled[0, 0, 1, 10] == 4.0 and filled[0, 0, 6, 11] == 4.0
    assert filled[0, 0, 7, 1] == 2.0


def test_fill_large_hole_and_all_invalid():
    d = torch.full((2, 1, 16, 16), 3.0)
    d[0, 0, 2:14, 2:14] = 0.0
    d[1] = float("nan")
    filled = fill_invalid(d)
    assert torch.allclose(filled[0], torch.full_like(filled[0], 3.0))
    assert torch.equal(filled[1], torch.zeros_like(filled[1]))


def test_mask_unsupported_blanks_the_block_of_an_invalid_lr_pixel():
    lr = torch.ones(1, 1, 2, 3)
    lr[0, 0, 1, 2] = 0
    hr = torch.full((1, 1, 8, 12), 5.0)
    hr[0, 0, 0, 0] = -0.1  # a non-positive prediction is not a depth either
    out = mask_unsupported(hr, valid_mask(lr), 4)
    assert torch.isnan(out[0, 0, 4:, 8:]).all() and torch.isnan(out[0, 0, 0, 0])
    assert torch.isfinite(out).sum() == 8 * 12 - 16 - 1
