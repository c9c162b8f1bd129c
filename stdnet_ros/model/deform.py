"""Modulated 3x3 deformable convolution (DCNv2) from standard PyTorch ops: bilinear sampling of the nine offset
taps with ``grid_sample``, times the mask, then one 1x1 convolution over C*9 channels.

It computes exactly what ``torchvision.ops.deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)`` computes
(same argument layout, one offset group), but autograd, bf16 autocast and ONNX GridSample all work with it, and on
CPU its backward is about 15x faster than torchvision's kernel (bench: ``stdnet bench train``).

Sampling rule (torchvision's): output pixel (i, j), tap k = (ki, kj) in row-major order reads the input at
(y, x) = (i - 1 + ki + dy_k, j - 1 + kj + dx_k) pixel coordinates (pixel centres at integers), bilinearly, with
zeros outside the image. ``grid_sample(align_corners=False, padding_mode="zeros")`` maps pixel coordinate p of
an axis of size n to the normalised (2 p + 1) / n - 1 and reads zeros outside, the same rule.
"""

import torch
import torch.nn.functional as F
from torchvision.ops import deform_conv2d

TAPS = 9


def _tap_grid(offset: torch.Tensor) -> torch.Tensor:
    """offset (B, 18, h, w) interleaved (dy, dx) per tap -> grid_sample grid (B, 9*h, w, 2) of normalised (x, y)."""
    b, _, h, w = offset.shape
    dtype, device = offset.dtype, offset.device
    ky, kx = torch.meshgrid(
        torch.arange(3, device=device, dtype=dtype) - 1, torch.arange(3, device=device, dtype=dtype) - 1, indexing="ij"
    )
    rows = torch.arange(h, device=device, dtype=dtype).view(1, 1, h, 1)
    cols = torch.arange(w, device=device, dtype=dtype).view(1, 1, 1, w)
    offset = offset.view(b, TAPS, 2, h, w)
    y = rows + ky.reshape(1, TAPS, 1, 1) + offset[:, :, 0]  # (B, 9, h, w) pixel coordinates
    x = cols + kx.reshape(1, TAPS, 1, 1) + offset[:, :, 1]
    grid = torch.stack([(2 * x + 1) / w - 1, (2 * y + 1) / h - 1], dim=-1)  # (B, 9, h, w, 2)
    return grid.view(b, TAPS * h, w, 2)


def deform_conv3x3(
    x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """x (B, C, h, w), offset (B, 18, h, w), mask (B, 9, h, w), weight (Cout, C, 3, 3), bias (Cout,) or None
    -> (B, Cout, h, w); padding 1, stride 1, one offset group."""
    b, c, h, w = x.shape
    if offset.shape != (b, 2 * TAPS, h, w) or mask.shape != (b, TAPS, h, w) or weight.shape[1:] != (c, 3, 3):
        raise ValueError(
            f"deform_conv3x3: expected offset {(b, 2 * TAPS, h, w)}, mask {(b, TAPS, h, w)}, weight "
            f"(Cout, {c}, 3, 3); got {tuple(offset.shape)}, {tuple(mask.shape)}, {tuple(weight.shape)}"
        )
    grid = _tap_grid(offset.to(x.dtype))
    sampled = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # (B, C, 9h, w)
    sampled = sampled.view(b, c, TAPS, h, w) * mask.to(x.dtype).unsqueeze(1)
    return F.conv2d(sampled.view(b, c * TAPS, h, w), weight.reshape(weight.shape[0], c * TAPS, 1, 1), bias)


def torchvision_deform_conv3x3(
    x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """The same operation through torchvision's compiled kernel (the reference of the tests and the bench)."""
    return deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)


DEFORM_IMPLEMENTATIONS = {"grid_sample": deform_conv3x3, "torchvision": torchvision_deform_conv3x3}
