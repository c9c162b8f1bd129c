"""Shared fixtures: small STDNet models whose outputs really depend on neighbouring frames."""

import numpy as np
import pytest
import torch

from stdnet_ros.model import build_model

TINY = dict(channels=16, encoder_blocks=(1, 1), extract_blocks=1, recon_blocks=1, tdm_rcabs=1, reduction=4)


def tiny_model(directions="bidirectional", stages=2, scale=4, seed=0, alignment="learned"):
    """A tiny STDNet whose zero-initialised offset convs are randomised, so every TDM mixes frames."""
    torch.manual_seed(seed)
    model = build_model("stdnet", directions=directions, stages=stages, scale=scale, alignment=alignment, **TINY)
    for stage in model.stages:
        for tdm in stage.tdms:
            torch.nn.init.normal_(tdm.offset_mask.weight, std=0.05)
    return model.eval()


def random_clip(frames=13, height=32, width=48, scale=4, seed=0):
    """rgb (1, T, 3, H, W) in [0, 1] and lr depth (1, T, 1, H/s, W/s) in metres (0.5 to 3.5 m)."""
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(1, frames, 3, height, width, generator=g)
    lr = torch.rand(1, frames, 1, height // scale, width // scale, generator=g) * 3 + 0.5
    return rgb, lr


def frame_arrays(rgb, lr, t):
    """Frame t of a clip as the engine takes it: (H, W, 3) float and (h, w) metres."""
    return rgb[0, t].permute(1, 2, 0).numpy(), lr[0, t, 0].numpy()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
