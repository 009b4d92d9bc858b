"""The identity "autoencoder": pixel space seen through the latent-diffusion interface.

Passing it to :class:`ldm_teach.models.LatentDiffusion` turns the same code into a
pixel-space diffusion model (f = 1, "latent" = image), the baseline of the chapter's
quality-vs-efficiency comparison (10.3.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
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
            raise ValueError(
                f"x must have shape (B, {self.config.in_channels}, H, W), got {tuple(x.shape)}"
            )
        return PointMass(x)

    def decode(self, z: Tensor) -> Tensor:
        if z.ndim != 4 or z.shape[1] != self.config.in_channels:
            raise ValueError(
                f"z must have shape (B, {self.config.in_channels}, H, W), got {tuple(z.shape)}"
            )
        return z

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.encode(x).mode().clamp(-1.0, 1.0)


@dataclass(frozen=True)
class PooledPixelsConfig:
    in_channels: int = 1  # image channels
    pool: int = 2  # side of the average-pooled blocks
    fold: int = 2  # pixel_unshuffle factor: fold x fold pooled pixels become channels

    @property
    def latent_channels(self) -> int:
        return self.in_channels * self.fold**2

    @property
    def downsample_factor(self) -> int:
        return self.pool * self.fold


class PooledPixels(nn.Module):
    """Information compression as stage 1: no learning, only averaging and reshaping.

    encode(x) = pixel_unshuffle(avg_pool(x, pool), fold): each ``pool`` x ``pool`` block of
    pixels becomes its mean (the low-pass, information-preserving compression of Sec. 10.1),
    then ``fold`` x ``fold`` pooled pixels are stacked as channels, so that a 1 x 32 x 32
    digit becomes a 4 x 8 x 8 "latent" of the same shape (and size, 256 numbers) as the
    f = 4 autoencoder's. decode(z) = bicubic upsampling (by ``pool``) of pixel_shuffle(z).

    The comparison LDM trained on it (``digits-cmp-pool``) runs the same UNet with the same
    budget as ``digits-cmp-f4``: what differs is only what the numbers mean.

    Raises ValueError for pool or fold not an int >= 1, or images whose channels or sides
    do not fit (sides must be divisible by pool * fold).
    """

    def __init__(self, in_channels: int = 1, pool: int = 2, fold: int = 2) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("pool", pool), ("fold", fold)):
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        self.config = PooledPixelsConfig(in_channels, pool, fold)

    @property
    def downsample_factor(self) -> int:
        return self.config.downsample_factor

    def encode(self, x: Tensor) -> PointMass:
        cfg, f = self.config, self.config.downsample_factor
        if x.ndim != 4 or x.shape[1] != cfg.in_channels or x.shape[2] % f or x.shape[3] % f:
            raise ValueError(
                f"x must have shape (B, {cfg.in_channels}, H, W) with H and W "
                f"divisible by {f}, got {tuple(x.shape)}"
            )
        if x.shape[0] == 0:
            raise ValueError("x must hold at least one image (B >= 1), got an empty batch")
        pooled = F.avg_pool2d(x, cfg.pool)  # (B, C, H/pool, W/pool): block means
        return PointMass(F.pixel_unshuffle(pooled, cfg.fold))  # (B, C fold^2, H/f, W/f)

    def decode(self, z: Tensor) -> Tensor:
        cfg = self.config
        if z.ndim != 4 or z.shape[1] != cfg.latent_channels:
            raise ValueError(
                f"z must have shape (B, {cfg.latent_channels}, h, w), got {tuple(z.shape)}"
            )
        pooled = F.pixel_shuffle(z, cfg.fold)  # (B, C, h fold, w fold)
        return F.interpolate(pooled, scale_factor=cfg.pool, mode="bicubic", align_corners=False)

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x).mode()).clamp(-1.0, 1.0)
