"""The identity "autoencoder": pixel space seen through the latent-diffusion interface.

Passing it to :class:`ldm_teach.models.LatentDiffusion` turns the same code into a
pixel-space diffusion model (f = 1, "latent" = image), the baseline of the chapter's
quality-vs-efficiency comparison (10.3.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ldm_teach.argcheck import is_int


class PointMass:
    """A posterior with all its mass on one point: ``mode()`` and ``sample()`` return it,
    its KL to anything is reported as 0 (it is not a density; nothing here trains on it)."""

    def __init__(self, x: Tensor) -> None:
        self.mean = x

    def mode(self) -> Tensor:
        return self.mean

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        return self.mean

    def kl(self) -> Tensor:
        return self.mean.new_zeros(self.mean.shape[0])


@dataclass(frozen=True)
class IdentityConfig:
    in_channels: int = 1  # image channels
    downsample_factor: int = 1

    @property
    def latent_channels(self) -> int:
        return self.in_channels


class IdentityAutoencoder(nn.Module):
    """encode(x) = PointMass(x), decode(z) = z; f = 1, latent channels = image channels.

    Raises ValueError if in_channels < 1, or (in encode) for images with another number of
    channels.
    """

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__()
        if not is_int(in_channels) or in_channels < 1:
            raise ValueError(f"in_channels must be an int >= 1, got {in_channels!r}")
        self.config = IdentityConfig(in_channels)

    @property
    def downsample_factor(self) -> int:
        return 1

    def encode(self, x: Tensor) -> PointMass:
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"x must have shape (B, {self.config.in_channels}, H, W), got "
                             f"{tuple(x.shape)}")
        return PointMass(x)

    def decode(self, z: Tensor) -> Tensor:
        if z.ndim != 4 or z.shape[1] != self.config.in_channels:
            raise ValueError(f"z must have shape (B, {self.config.in_channels}, H, W), got "
                             f"{tuple(z.shape)}")
        return z

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.encode(x).mode().clamp(-1.0, 1.0)
