"""Small building blocks of STDNet (the mmedit / RCAN vocabulary), all on (B, C, h, w) feature maps."""

import torch
from torch import nn

LRELU_SLOPE = 0.1
RESIDUAL_BRANCH_GAIN = 0.1  # residual branches start small, so a block starts near the identity (mmedit)


def kaiming(conv: nn.Conv2d, gain: float = 1.0) -> nn.Conv2d:
    """Kaiming-normal weights (fan-in, LeakyReLU 0.1) times ``gain``, zero bias: a signal keeps its magnitude
    through the stack. PyTorch's default (uniform, gain 1/sqrt(3) per layer) and its random biases wash the input
    out over STDNet's ~30 layers: at that init the trunk's features depend on the input by 0.4 % only."""
    nn.init.kaiming_normal_(conv.weight, a=LRELU_SLOPE, mode="fan_in", nonlinearity="leaky_relu")
    conv.weight.data.mul_(gain)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return kaiming(nn.Conv2d(cin, cout, 3, stride, 1))


def conv1x1(cin: int, cout: int) -> nn.Conv2d:
    return kaiming(nn.Conv2d(cin, cout, 1))


def lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(LRELU_SLOPE, inplace=True)


class ResidualBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3 plus identity, no normalisation; Kaiming init scaled by 0.1 (mmedit)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = kaiming(conv3x3(channels, channels), RESIDUAL_BRANCH_GAIN)
        self.conv2 = kaiming(conv3x3(channels, channels), RESIDUAL_BRANCH_GAIN)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


def residual_blocks(cin: int, cout: int, num_blocks: int) -> nn.Sequential:
    """Input conv3x3 cin -> cout, LeakyReLU, then ``num_blocks`` residual blocks (ResidualBlocksWithInputConv)."""
    return nn.Sequential(conv3x3(cin, cout), lrelu(), *(ResidualBlock(cout) for _ in range(num_blocks)))


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: global average pool, 1x1 C -> C/r, ReLU, 1x1 -> C, sigmoid, rescale."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            conv1x1(channels, channels // reduction),
            nn.ReLU(inplace=True),
            conv1x1(channels // reduction, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.body(x)


class RCAB(nn.Module):
    """Residual channel-attention block: conv3x3, LeakyReLU(0.2), conv3x3, channel attention, plus skip."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        self.body = nn.Sequential(
            kaiming(conv3x3(channels, channels), RESIDUAL_BRANCH_GAIN),
            nn.LeakyReLU(0.2, inplace=True),
            kaiming(conv3x3(channels, channels), RESIDUAL_BRANCH_GAIN),
            ChannelAttention(channels, reduction),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualGroup(nn.Module):
    """``num_rcabs`` RCABs and a closing conv3x3, with a group-level skip."""

    def __init__(self, channels: int, num_rcabs: int, reduction: int):
        super().__init__()
        self.body = nn.Sequential(
            *(RCAB(channels, reduction) for _ in range(num_rcabs)),
            kaiming(conv3x3(channels, channels), RESIDUAL_BRANCH_GAIN),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def encoder(cin: int, channels: int, blocks: tuple[int, int], stride: int) -> nn.Sequential:
    """Guide (stride 2: HR -> HR/4) or depth (stride 1: stays at HR/4) encoder of model_spec.md §1.3."""
    return nn.Sequential(
        conv3x3(cin, channels),
        lrelu(),
        conv3x3(channels, channels, stride),
        lrelu(),
        residual_blocks(channels, channels, blocks[0]),
        conv3x3(channels, channels, stride),
        lrelu(),
        residual_blocks(channels, channels, blocks[1]),
    )


def upsample_head(channels: int, out_channels: int) -> nn.Sequential:
    """HR/4 features -> HR maps: two (conv3x3 C -> 4C, PixelShuffle x2, LeakyReLU), conv3x3, LeakyReLU, conv3x3."""
    return nn.Sequential(
        conv3x3(channels, 4 * channels),
        nn.PixelShuffle(2),
        lrelu(),
        conv3x3(channels, 4 * channels),
        nn.PixelShuffle(2),
        lrelu(),
        conv3x3(channels, channels),
        lrelu(),
        kaiming(conv3x3(channels, out_channels), RESIDUAL_BRANCH_GAIN),  # the output is a residual: start small
    )
