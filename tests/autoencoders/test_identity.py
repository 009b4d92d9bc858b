"""The identity autoencoder turns LatentDiffusion into pixel-space diffusion."""

from __future__ import annotations

import pytest
import torch

from ldm_teach.autoencoders.identity import IdentityAutoencoder
from ldm_teach.diffusion import ScheduleConfig
from ldm_teach.models import LatentDiffusion, UNet, UNetConfig


def test_identity_round_trip_and_interface():
    ae = IdentityAutoencoder(1)
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    post = ae.encode(x)
    assert torch.equal(post.mode(), x) and torch.equal(post.sample(), x)
    assert torch.equal(post.kl(), torch.zeros(2))
    assert torch.equal(ae.decode(x), x) and ae.downsample_factor == 1
    assert ae.config.latent_channels == 1
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        ae.encode(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="in_channels"):
        IdentityAutoencoder(0)


def test_pixel_space_diffusion_through_latent_diffusion():
    unet = UNet(
        UNetConfig(
            in_channels=1,
            out_channels=1,
            base_channels=16,
            channel_mult=(1, 2),
            num_res_blocks=1,
            attention_levels=(),
            num_heads=2,
            num_classes=3,
            norm_groups=8,
        )
    )
    ldm = LatentDiffusion(IdentityAutoencoder(1), unet, ScheduleConfig(), scale_factor=1.0)
    assert ldm.latent_shape(8) == (1, 8, 8)
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    assert torch.equal(ldm.encode(x), x)
    loss = ldm.loss(ldm.encode(x), torch.tensor([0, 1, 2, 0]), torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    out = ldm.sample(
        2,
        8,
        torch.tensor([0, 1]),
        guidance_scale=2.0,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert out.shape == (2, 1, 8, 8) and out.abs().max() <= 1


def test_identity_decode_checks_channels():
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        IdentityAutoencoder(1).decode(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="int"):
        IdentityAutoencoder(1.5)


def test_pooled_pixels_are_block_means_folded_into_channels():
    from ldm_teach.autoencoders import PooledPixels

    stage1 = PooledPixels(1, pool=2, fold=2)
    x = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    z = stage1.encode(x).mode()
    assert z.shape == (3, 4, 8, 8) and stage1.downsample_factor == 4
    assert stage1.config.latent_channels == 4
    pooled = torch.nn.functional.avg_pool2d(x, 2)  # (3, 1, 16, 16)
    # channel c = 2 i + j holds the pooled pixel (2 h + i, 2 w + j)
    assert torch.equal(z[:, 0], pooled[:, 0, 0::2, 0::2])
    assert torch.equal(z[:, 3], pooled[:, 0, 1::2, 1::2])
    back = stage1.decode(z)
    assert back.shape == x.shape
    assert torch.equal(
        back, torch.nn.functional.interpolate(pooled, scale_factor=2, mode="bicubic")
    )
    with pytest.raises(ValueError, match="divisible by 4"):
        stage1.encode(torch.zeros(1, 1, 30, 30))
    with pytest.raises(ValueError, match="pool must be an int"):
        PooledPixels(1, pool=0)
