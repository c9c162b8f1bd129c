"""The network: sizes, gradients, learning, receptive field, input checks."""

import pytest
import torch

from conftest import TINY, random_clip, tiny_model
from stdnet_ros.model import STDNetConfig, build_model
from stdnet_ros.model.flops import streaming_flops_per_frame
from stdnet_ros.model.losses import STDNetLoss


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_stdnet_preset_has_the_official_size():
    assert abs(n_params(build_model("stdnet")) - 19.9e6) <= 0.02 * 19.9e6


def test_lite_preset_is_a_tenth_of_the_compute():
    # FLOPs per pixel do not depend on the image size, so a small frame gives the per-640x480 figure exactly.
    h, w = 64, 64
    lite = streaming_flops_per_frame(build_model("stdnet-lite"), h, w) * (640 * 480) / (h * w)
    full = streaming_flops_per_frame(build_model("stdnet"), h, w) * (640 * 480) / (h * w)
    assert lite <= 0.15e12
    assert 1.3e12 < full < 1.6e12  # model_spec.md: about 1.45 TFLOP per 640x480 frame
    assert lite / full < 0.15
    assert n_params(build_model("stdnet-lite")) < 0.15 * n_params(build_model("stdnet"))


def test_receptive_field_follows_the_config():
    assert build_model("stdnet").config.future_frames == 8
    assert build_model("stdnet", directions="causal").config.future_frames == 0
    assert build_model("stdnet-lite").config.future_frames == 4


@pytest.mark.parametrize("stages", [1, 2])
def test_gradient_reaches_every_parameter(stages):
    model = build_model("stdnet", stages=stages, **TINY).train()
    loss_fn = STDNetLoss(model.config.channels)
    params = list(model.parameters()) + list(loss_fn.parameters())
    rgb, lr = random_clip(frames=5, height=32, width=32)
    gt = torch.nn.functional.interpolate(lr.flatten(0, 1), scale_factor=4).unflatten(0, (1, 5))
    opt = torch.optim.Adam(params, 1e-3)
    # The offset/mask convs start at zero (as in the official code), which blocks the gradient to the layers before
    # them at step 0; one optimiser step opens that path, after which every parameter must receive a gradient.
    for _ in range(2):
        opt.zero_grad()
        pred, aux = model(lr, rgb, return_aux=True)
        loss_fn(pred, gt, aux)["total"].backward()
        opt.step()
    missing = [
        name
        for name, p in list(model.named_parameters()) + list(loss_fn.named_parameters())
        if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0
    ]
    assert missing == []


def test_tiny_model_overfits_a_tiny_clip():
    torch.manual_seed(0)
    model = build_model("stdnet-lite", channels=16, encoder_blocks=(1, 1), extract_blocks=1, recon_blocks=1).train()
    loss_fn = STDNetLoss(model.config.channels)
    t, h, w = 3, 32, 32
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    gt = torch.stack([2.0 + 1.0 * ((xx + 3 * k) % 16 < 8) + 0.02 * yy for k in range(t)])[None, :, None].float()
    lr = gt[..., 1::4, 1::4]
    rgb = (gt / gt.max()).expand(1, t, 3, h, w).contiguous()
    opt = torch.optim.Adam(list(model.parameters()) + list(loss_fn.parameters()), 2e-3)
    losses = []
    for _ in range(300):
        opt.zero_grad()
        pred, aux = model(lr, rgb, return_aux=True)
        loss = loss_fn(pred, gt, aux)["rec"]
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert min(losses[-10:]) < losses[0] / 10


def test_loss_ignores_invalid_ground_truth():
    model = build_model("stdnet", **TINY)
    loss_fn = STDNetLoss(model.config.channels)
    rgb, lr = random_clip(frames=3, height=32, width=32)
    gt = torch.nn.functional.interpolate(lr.flatten(0, 1), scale_factor=4).unflatten(0, (1, 3))
    pred, aux = model(lr, rgb, return_aux=True)
    clean = loss_fn(pred, gt, aux)
    holes = gt.clone()
    holes[..., :8, :8] = float("nan")
    holes[..., 8:16, :8] = 0
    dirty = loss_fn(pred, holes, aux)
    assert all(torch.isfinite(v) for v in dirty.values())
    assert dirty["rec"] != clean["rec"]


def test_temporal_consistency_term_counts_only_an_error_that_changes_between_frames():
    model = build_model("stdnet", **TINY)
    rgb, lr = random_clip(frames=3, height=32, width=32)
    gt = torch.nn.functional.interpolate(lr.flatten(0, 1), scale_factor=4).unflatten(0, (1, 3))
    with torch.no_grad():
        _, aux = model(lr, rgb, return_aux=True)
    plain, with_tc = STDNetLoss(model.config.channels), STDNetLoss(model.config.channels, gamma_tc=2.0)
    with_tc.load_state_dict(plain.state_dict())  # the same difference projections
    steady = gt + 0.05 * aux.scale_m  # the same error (in each frame's units) in every frame: no change
    assert with_tc(steady, gt, aux)["total"].item() == pytest.approx(plain(steady, gt, aux)["total"].item(), abs=1e-6)
    flicker = gt + 0.05 * aux.scale_m * torch.tensor([1.0, -1.0, 1.0]).view(1, 3, 1, 1, 1)  # |e_t - e_t-1| = 0.1
    gap = with_tc(flicker, gt, aux)["total"] - plain(flicker, gt, aux)["total"]
    assert gap.item() == pytest.approx(2.0 * 0.1, rel=1e-4)


def test_causal_output_ignores_future_frames():
    model = tiny_model("causal")
    rgb, lr = random_clip(frames=8)
    with torch.no_grad():
        base = model(lr, rgb)
        rgb2, lr2 = rgb.clone(), lr.clone()
        rgb2[:, 4:] = torch.rand_like(rgb2[:, 4:])
        lr2[:, 4:] += 1.0
        changed = model(lr2, rgb2)
    assert torch.equal(base[:, :4], changed[:, :4])
    assert not torch.allclose(base[:, 4:], changed[:, 4:])


def test_bidirectional_receptive_field_is_exactly_the_delay():
    model = tiny_model("bidirectional")
    d = model.config.future_frames
    rgb, lr = random_clip(frames=2 * d + 3)
    c = d + 1  # a centre frame with a full window on both sides
    with torch.no_grad():
        base = model(lr, rgb)
        for t, affects in ((c + d, True), (c + d + 1, False), (c - d, True), (c - d - 1, False)):
            lr2 = lr.clone()
            lr2[:, t] += 1.0
            out = model(lr2, rgb)
            assert (not torch.equal(out[:, c], base[:, c])) == affects, (t, affects)


def test_bad_input_shapes_name_the_field():
    model = build_model("stdnet", **TINY)
    rgb, lr = random_clip(frames=2, height=32, width=32)
    with pytest.raises(ValueError, match="rgb: expected shape"):
        model(lr, rgb[..., :16])
    with pytest.raises(ValueError, match="lr_depth: expected shape"):
        model(lr[:, :, 0], rgb)


@pytest.mark.parametrize(
    "override, field",
    [
        (dict(scale=3), "scale"),
        (dict(directions="sideways"), "directions"),
        (dict(stages=3), "stages"),
    ],
)
def test_bad_config_names_the_field(override, field):
    with pytest.raises(ValueError, match=field):
        STDNetConfig(**override)
    with pytest.raises(ValueError, match="unknown STDNetConfig fields"):
        build_model("stdnet", colour="red")


def input_dependence(model, modules: dict, frames=3, size=64) -> dict:
    """Per module: std of (features for input a - features for input b) / RMS of the features for a."""
    feats = {name: [] for name in modules}
    hooks = [
        m.register_forward_hook(lambda _m, _i, out, name=name: feats[name].append(out.detach()))
        for name, m in modules.items()
    ]
    s = model.config.scale
    with torch.no_grad():
        for seed in (1, 2):
            g = torch.Generator().manual_seed(seed)
            rgb = torch.rand(1, frames, 3, size, size, generator=g)
            lr = torch.rand(1, frames, 1, size // s, size // s, generator=g) * 3 + 0.5
            model(lr, rgb)
    for h in hooks:
        h.remove()
    return {name: ((v[0] - v[1]).std() / v[0].pow(2).mean().sqrt()).item() for name, v in feats.items()}


@pytest.mark.parametrize("preset", ["stdnet-lite", "stdnet"])
def test_fresh_model_carries_its_input_to_the_output(preset):
    # PyTorch's default init gave 0.004 (trunk) and 0.0004 (head's penultimate layer) for stdnet-lite.
    torch.manual_seed(0)
    model = build_model(preset, directions="causal").eval()
    last = model.stages[-1]
    ratios = input_dependence(model, {"trunk": last.trunk, "head": last.head[-2]})
    assert min(ratios.values()) >= 0.1, ratios


@pytest.mark.parametrize(
    "directions, stages, base",
    [("causal", 2, "bilinear"), ("bidirectional", 2, "guided"), ("bidirectional", 1, "bilinear")],
)
@pytest.mark.parametrize("k", [0.1, 3.0])
def test_output_scales_with_the_depth(directions, stages, base, k):
    model = build_model("stdnet", directions=directions, stages=stages, residual_base=base, **TINY).eval()
    rgb, lr = random_clip(frames=6)
    lr[0, 2, 0, :3, :3] = 0.0  # invalid pixels are filled from the valid ones, in the same units
    with torch.no_grad():
        torch.testing.assert_close(model(lr * k, rgb), model(lr, rgb) * k, rtol=1e-4, atol=1e-5 * k)
