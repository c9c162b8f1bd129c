"""The depth the network's output is a residual over, (B, 1, H, W) in normalised depth units.

* ``bilinear`` (the official STDNet): bilinear x4 (align_corners=False) of the HR/4 LR depth.
* ``guided``: a He et al. guided filter of that bilinear map with the grey RGB as the guide, so training starts
  from the guided filter and the network only learns what the filter misses.
* ``joint-bilateral``: a joint bilateral filter of that bilinear map, weighted by the RGB guide (the classical
  baseline's window, spatial and colour sigmas, baselines.py), so training starts from sharp RGB-aligned edges.

Both filters weigh pixels by the RGB only, so they are linear in the depth and the output stays exactly
proportional to the input depth (scale-free, see normalisation.py).
"""

import math

import torch
import torch.nn.functional as F

BASES = ("bilinear", "guided", "joint-bilateral")
GUIDED_RADIUS_PX = 4  # HR pixels
GUIDED_EPS = 1e-2  # regulariser of the grey guide's variance (guide in [0, 1]); the guided-filter baseline's eps
GREY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma
JBF_RADIUS_PX = 7  # HR pixels: the 15-pixel window of the joint-bilateral baseline
JBF_SIGMA_SPACE_PX = 4.0
JBF_SIGMA_COLOUR = 0.1  # of the L1 RGB difference, RGB in [0, 1]
OUTSIDE = 1e4  # guide value of the padding: exp(-(3e4)^2 / 2 sigma_colour^2) is exactly 0 in float32


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """(B, C, H, W) mean over the (2r+1)^2 window clipped to the image."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def guided_filter(
    guide: torch.Tensor, src: torch.Tensor, radius: int = GUIDED_RADIUS_PX, eps: float = GUIDED_EPS
) -> torch.Tensor:
    """Grey guide (B, 1, H, W) and source (B, 1, H, W) -> the filtered source (B, 1, H, W)."""
    mean_i, mean_p = box_mean(guide, radius), box_mean(src, radius)
    var_i = box_mean(guide * guide, radius) - mean_i * mean_i
    cov_ip = box_mean(guide * src, radius) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_mean(a, radius) * guide + box_mean(b, radius)


def joint_bilateral(
    rgb: torch.Tensor,
    src: torch.Tensor,
    radius: int = JBF_RADIUS_PX,
    sigma_space: float = JBF_SIGMA_SPACE_PX,
    sigma_colour: float = JBF_SIGMA_COLOUR,
) -> torch.Tensor:
    """RGB guide (B, 3, H, W) in [0, 1] and source (B, 1, H, W) -> (B, 1, H, W): the weighted mean of the source
    over the (2r+1)^2 window clipped to the image, weights exp(-d^2 / 2 sigma_space^2) exp(-c^2 / 2 sigma_colour^2)
    with d the pixel distance and c the L1 RGB difference to the centre pixel.

    The weight of the pair (p, p + o) equals that of (p + o, p), so each weight map is computed once for the half
    window o > 0 and read twice, shifted: half the exponentials of :func:`joint_bilateral_reference`, the same
    output to float rounding. Pixels outside the image get a guide value no RGB difference reaches (OUTSIDE), so
    their weight is exactly 0 and no mask is needed. Differentiable in ``src``; the same code on CPU and CUDA.
    """
    h, w = src.shape[-2:]
    r = radius
    rgb_p = F.pad(rgb, (r, r, r, r), value=OUTSIDE)
    src_p = F.pad(src, (r, r, r, r))
    num = src.clone()  # the centre tap, weight 1
    den = torch.ones_like(src)
    for dy in range(r + 1):
        for dx in range(-r, r + 1):
            if dy == 0 and dx <= 0:
                continue  # the centre, and the half window's mirror images
            spatial = math.exp(-(dy * dy + dx * dx) / (2 * sigma_space**2))
            # weight of (q, q + o) for every q with q or q + o in the image: rows -dy..h-1, columns over both
            rows, cols = h + dy, w + abs(dx)
            y0, x0 = r - dy, r - max(dx, 0)
            near = rgb_p[..., y0 : y0 + rows, x0 : x0 + cols]
            far = rgb_p[..., y0 + dy : y0 + dy + rows, x0 + dx : x0 + dx + cols]
            colour = (far - near).abs().sum(1, keepdim=True)
            weight = torch.exp(colour.square_().mul_(-1 / (2 * sigma_colour**2))).mul_(spatial)
            ahead = weight[..., dy : dy + h, max(dx, 0) : max(dx, 0) + w]  # pairs (p, p + o)
            behind = weight[..., :h, max(dx, 0) - dx : max(dx, 0) - dx + w]  # pairs (p - o, p)
            num.addcmul_(ahead, src_p[..., r + dy : r + dy + h, r + dx : r + dx + w])
            num.addcmul_(behind, src_p[..., r - dy : r - dy + h, r - dx : r - dx + w])
            den.add_(ahead).add_(behind)
    return num / den


def joint_bilateral_reference(
    rgb: torch.Tensor,
    src: torch.Tensor,
    radius: int = JBF_RADIUS_PX,
    sigma_space: float = JBF_SIGMA_SPACE_PX,
    sigma_colour: float = JBF_SIGMA_COLOUR,
) -> torch.Tensor:
    """:func:`joint_bilateral` tap by tap over the whole window, with an explicit inside-the-image mask: the
    reference its tests and the model bench compare with."""
    h, w = src.shape[-2:]
    pad = (radius, radius, radius, radius)
    rgb_p = F.pad(rgb, pad)
    src_p = F.pad(src, pad)
    inside = F.pad(torch.ones_like(src), pad)
    num = torch.zeros_like(src)
    den = torch.zeros_like(src)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            spatial = math.exp(-((dy - radius) ** 2 + (dx - radius) ** 2) / (2 * sigma_space**2))
            colour = (rgb_p[..., dy : dy + h, dx : dx + w] - rgb).abs().sum(1, keepdim=True)
            weight = (
                spatial * torch.exp(colour.square() / (-2 * sigma_colour**2)) * inside[..., dy : dy + h, dx : dx + w]
            )
            num = num + weight * src_p[..., dy : dy + h, dx : dx + w]
            den = den + weight
    return num / den


def residual_base(kind: str, lq4: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    """lq4 (B, 1, h, w) normalised depth at HR/4, rgb (B, 3, H, W) in [0, 1] -> (B, 1, H, W) normalised depth,
    fp32 even under autocast (the network's bf16 residual is added to it in fp32)."""
    with torch.autocast(lq4.device.type, enabled=False):
        return _residual_base(kind, lq4.float(), rgb.float())


def _residual_base(kind: str, lq4: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    base = F.interpolate(lq4, scale_factor=4, mode="bilinear", align_corners=False)
    if kind == "bilinear":
        return base
    if kind == "joint-bilateral":
        return joint_bilateral(rgb, base)
    grey = (rgb * rgb.new_tensor(GREY).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return guided_filter(grey, base)
