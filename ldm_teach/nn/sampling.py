"""Spatial down- and upsampling by a factor of 2, the steps that build a downsampling
factor f = 2^m in the autoencoder and the resolution levels of the UNet."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class Downsample(nn.Module):
    """Halve H and W with a strided 3x3 convolution (learned, as in the DDPM UNet).

    Shapes: (B, C, H, W) -> (B, C, ceil(H/2), ceil(W/2)).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Double H and W: nearest-neighbour interpolation, then a 3x3 convolution (avoids
    the checkerboard artefacts of transposed convolutions; Odena et al. 2016, Distill).

    Shapes: (B, C, H, W) -> (B, C, 2H, 2W).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
