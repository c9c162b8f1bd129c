"""The grid-sample deformable convolution against torchvision's compiled kernel: values and every gradient."""

import pytest
import torch
from torchvision.ops import deform_conv2d

from stdnet_ros.model.deform import deform_conv3x3


def random_case(b=2, c=5, cout=4, h=7, w=9, seed=0, offset_px=3.0):
    """Offsets of a few pixels (taps land outside the image and between pixels), masks in (0, 1), odd sizes."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, h, w, generator=g)
    offset = torch.randn(b, 18, h, w, generator=g) * offset_px
    mask = torch.rand(b, 9, h, w, generator=g)
    weight = torch.randn(cout, c, 3, 3, generator=g)
    bias = torch.randn(cout, generator=g)
    return [t.requires_grad_() for t in (x, offset, mask, weight, bias)]


def outputs_and_grads(fn, args):
    y = fn(*args)
    grads = torch.autograd.grad((y * torch.cos(y)).sum(), args)  # a non-linear read-out: every gradient differs
    return y, grads


def torchvision_reference(x, offset, mask, weight, bias):
    return deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)


@pytest.mark.parametrize("seed, size", [(0, (7, 9)), (1, (5, 5)), (2, (12, 3))])
def test_equals_torchvision_in_value_and_every_gradient(seed, size):
    args = random_case(h=size[0], w=size[1], seed=seed)
    assert (args[1].abs() > 4).any()  # some taps fall outside the image
    y, grads = outputs_and_grads(deform_conv3x3, args)
    y_ref, grads_ref = outputs_and_grads(torchvision_reference, args)
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-4)
    for name, g, g_ref in zip(("x", "offset", "mask", "weight", "bias"), grads, grads_ref):
        relative = (g - g_ref).norm() / g_ref.norm()
        assert relative < 1e-4, (name, relative.item())


def test_zero_offsets_and_unit_mask_are_a_plain_convolution():
    x, offset, mask, weight, bias = random_case(offset_px=0.0)
    with torch.no_grad():
        got = deform_conv3x3(x, offset, torch.ones_like(mask), weight, bias)
        torch.testing.assert_close(got, torch.nn.functional.conv2d(x, weight, bias, padding=1), rtol=1e-5, atol=1e-5)


def test_runs_under_cpu_bf16_autocast():
    args = [t.detach() for t in random_case()]
    with torch.no_grad():
        reference = deform_conv3x3(*args)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = deform_conv3x3(*args)
    assert low.dtype == torch.bfloat16
    assert (low.float() - reference).abs().max() < 0.05 * reference.abs().max()


def test_bad_shapes_name_the_argument():
    x, offset, mask, weight, bias = [t.detach() for t in random_case()]
    with pytest.raises(ValueError, match=r"expected offset \(2, 18, 7, 9\)"):
        deform_conv3x3(x, offset[:, :9], mask, weight, bias)
