"""Spatial down- and upsampling by a factor of 2, the steps that build a downsampling
factor f = 2^m in the autoencoder and the resolution levels of the UNet."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class Downsample(nn.Module):
    """Halve H and W with a strided 3x3 convolution (learned, as in the DDPM UNet).

    Two padding conventions exist in the reference code, and checkpoints depend on which:

    - ``pad_right_bottom=False``: pad one pixel on every side (DDPM/LDM UNet; diffusers
      ``Downsample2D(padding=1)``);
    - ``pad_right_bottom=True``: pad one pixel on the right and bottom only, then convolve
      without padding (the LDM/Stable Diffusion autoencoder, after Esser et al. 2021;
      diffusers ``Downsample2D(padding=0)``). The course's autoencoders use this one, so
      real Stable Diffusion VAE weights compute the same function in ``ldm_teach``.

    Shapes: (B, C, H, W) -> (B, C, H/2, W/2) for even H, W.
    """

    def __init__(self, channels: int, pad_right_bottom: bool = False) -> None:
        super().__init__()
        self.pad_right_bottom = pad_right_bottom
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0 if pad_right_bottom else 1)

    def forward(self, x: Tensor) -> Tensor:
        if self.pad_right_bottom:
            x = F.pad(x, (0, 1, 0, 1))  # (left, right, top, bottom)
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
