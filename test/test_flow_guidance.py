"""Flow-guided alignment: the RGB flow is right in feature pixels, warping follows it, a TDM adds it to its offsets."""

import cv2
import numpy as np
import pytest
import torch

from conftest import tiny_model
from stdnet_ros.model import build_model
from stdnet_ros.model.deform import DEFORM_IMPLEMENTATIONS, deform_conv3x3
from stdnet_ros.model.difference_modules import TemporalDifferenceModule
from stdnet_ros.model.flow_guidance import PairFlows, block_mean, warp


def panning_clip(frames=4, height=96, width=128, dx=2, dy=1, seed=0):
    """rgb (1, T, 3, H, W) in [0, 1] of a smooth texture whose view moves by (dx, dy) HR pixels per frame:
    frame t at p shows the texture at p + t * (dx, dy)."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (height + 40, width + 40, 3)).astype(np.uint8), (0, 0), 2.0)
    clip = np.stack([texture[t * dy : t * dy + height, t * dx : t * dx + width] for t in range(frames)])
    return torch.from_numpy(clip).permute(0, 3, 1, 2)[None].float() / 255.0


@pytest.mark.parametrize("t, n", [(1, 0), (3, 1), (0, 2)])
def test_flow_of_a_pan_is_the_displacement_in_feature_pixels(t, n):
    flows = PairFlows.of_clip(panning_clip(dx=2, dy=1))
    flow = flows.flow(t, n)  # frame t at p is frame n at p + (t - n) * (2, 1) HR px
    assert flow.shape == (1, 2, 24, 32) and flow.dtype == torch.float32
    inner = flow[0, :, 4:-4, 4:-4]
    expected = torch.tensor([2.0, 1.0]).view(2, 1, 1) * (t - n) / 4
    assert (inner - expected).abs().median() < 0.05


def test_block_mean_averages_4x4_blocks_and_divides_by_4():
    hr = np.zeros((1, 8, 8, 2), np.float32)
    hr[0, :4, :4, 0] = 8.0  # top-left block moves 8 HR px in x
    hr[0, 4:, 4:, 1] = np.arange(4, dtype=np.float32)  # bottom-right block: mean dy 1.5 HR px
    out = block_mean(hr)
    assert out.shape == (1, 2, 2, 2)
    assert out[0, 0].tolist() == [[2.0, 0.0], [0.0, 0.0]] and out[0, 1].tolist() == [[0.0, 0.0], [0.0, 0.375]]


def test_flows_are_computed_once_and_evicted():
    flows = PairFlows.of_clip(panning_clip(frames=4))
    first = flows.flow(2, 1)
    assert flows.flow(2, 1) is first
    flows.evict_before(2)
    assert flows.cached_frames() == 2
    with pytest.raises(KeyError):
        flows.flow(2, 1)


def test_warp_along_an_integer_flow_shifts_and_keeps_the_border():
    x = torch.arange(20.0).view(1, 1, 4, 5)
    flow = torch.zeros(1, 2, 4, 5)
    flow[:, 0] = 1.0  # read one pixel to the right
    out = warp(x, flow)
    assert torch.equal(out[..., :4], x[..., 1:]) and torch.equal(out[..., 4], x[..., 4])


def test_a_tdm_adds_the_flow_to_every_taps_offset(monkeypatch):
    """The offsets a TDM hands its deformable conv are its own plus the flow, in torchvision's (dy, dx) order."""
    torch.manual_seed(0)
    tdm = TemporalDifferenceModule(16, num_rcabs=1, reduction=4).eval()
    torch.nn.init.normal_(tdm.offset_mask.weight, std=0.05)
    seen = []

    def recording(x, offset, mask, weight, bias):
        seen.append(offset)
        return deform_conv3x3(x, offset, mask, weight, bias)

    monkeypatch.setitem(DEFORM_IMPLEMENTATIONS, "recording", recording)
    tdm.deform = "recording"
    current, neighbour, diff, guide, weight = (torch.randn(1, 16, 8, 10) for _ in range(5))
    flow = torch.randn(1, 2, 8, 10)
    with torch.no_grad():
        tdm(current, neighbour, diff, guide, weight)
        tdm(current, neighbour, diff, guide, weight, flow)
    added = (seen[1] - seen[0])[:1].view(1, 9, 2, 8, 10)
    assert torch.allclose(added[:, :, 0], flow[:, 1:2].expand(1, 9, 8, 10), atol=1e-6)  # dy
    assert torch.allclose(added[:, :, 1], flow[:, 0:1].expand(1, 9, 8, 10), atol=1e-6)  # dx


def test_an_offset_equal_to_the_flow_samples_where_warp_does():
    """deform_conv3x3 with every tap offset by flow (dy, dx) and a centre-tap-only kernel is warp(x, flow)
    (away from the border, where one reads zeros and the other the border value)."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, 12, 14)
    flow = torch.rand(1, 2, 12, 14) * 2 - 1  # within a pixel
    weight = torch.zeros(3, 3, 3, 3)
    weight[range(3), range(3), 1, 1] = 1.0
    offset = flow.flip(1).repeat(1, 9, 1, 1)
    sampled = deform_conv3x3(x, offset, torch.ones(1, 9, 12, 14), weight, None)
    assert torch.allclose(sampled[..., 2:-2, 2:-2], warp(x, flow)[..., 2:-2, 2:-2], atol=1e-5)


def test_flow_guided_model_changes_outputs_only_with_passes():
    rgb = panning_clip(frames=4, height=32, width=48)
    lr = torch.rand(1, 4, 1, 8, 12) + 1.0
    learned, guided = tiny_model("causal", 2), tiny_model("causal", 2, alignment="flow-guided")
    with torch.no_grad():
        assert not torch.allclose(learned(lr, rgb), guided(lr, rgb))
    single = build_model("stdnet-lite", directions="single-frame", alignment="flow-guided")
    assert not single.config.flow_guided


def test_unknown_alignment_is_refused():
    with pytest.raises(ValueError, match="alignment must be one of"):
        build_model("stdnet-lite", alignment="optical")
