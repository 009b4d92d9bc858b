"""Autoencoder, pooled-pixel and JPEG round trips (ldm_teach.metrics.roundtrip)."""

import math

import pytest
import torch
from torch import nn

from ldm_teach.autoencoders import (
    VQVAE,
    AutoencoderKL,
    AutoencoderKLConfig,
    IdentityAutoencoder,
    PooledPixels,
    VQVAEConfig,
)
from ldm_teach.data import patchify
from ldm_teach.metrics import jpeg_patches_at_bpp, offset_share, psnr, roundtrip

TINY = dict(in_channels=1, base_channels=8, channel_mult=(1, 2), norm_groups=4)


def _images(b=3, c=1, side=16, seed=0):
    return torch.rand(b, c, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_pooled_pixels_counts_and_scores():
    x = _images(c=3)
    out = roundtrip(PooledPixels(3, pool=4, fold=1), x)
    assert out["latent_shape"] == (3, 4, 4) and out["numbers"] == 48 and out["ratio"] == 16.0
    expected = torch.nn.functional.avg_pool2d(x, 4)
    assert torch.allclose(out["z"], expected)
    assert out["psnr_db"] == pytest.approx(psnr(out["rec"], x).mean().item())
    assert out["perceptual"] is None and out["rec"].abs().max() <= 1


def test_identity_is_perfect_and_the_perceptual_fn_sees_x_then_rec():
    x = _images()
    calls = []

    def distance(a, b):
        calls.append((a, b))
        return (a - b).abs().mean(dim=(1, 2, 3))

    out = roundtrip(IdentityAutoencoder(1), x, perceptual_fn=distance)
    assert math.isinf(out["psnr_db"]) and out["ssim"] == pytest.approx(1.0)
    assert out["perceptual"] == 0.0 and calls[0][0] is x and out["ratio"] == 1.0


def test_kl_decodes_the_posterior_mode_and_vq_the_nearest_codes():
    torch.manual_seed(0)
    x = _images()
    kl = AutoencoderKL(AutoencoderKLConfig(**TINY)).eval()
    out = roundtrip(kl, x)
    with torch.no_grad():
        z = kl.encode(x).mode()
        assert torch.equal(out["z"], z)
        assert torch.equal(out["rec"], kl.decode(z).clamp(-1, 1))
    assert out["latent_shape"] == (4, 8, 8) and out["ratio"] == 1.0
    vq = VQVAE(VQVAEConfig(**TINY, num_codes=16)).eval()
    out = roundtrip(vq, x)
    with torch.no_grad():
        assert torch.equal(out["z"], vq.quantize(vq.encode(x)).z_q)


def test_bad_models_and_images_are_refused():
    with pytest.raises(TypeError, match="model must be"):
        roundtrip(nn.Identity(), _images())
    with pytest.raises(ValueError, match="x must be"):
        roundtrip(PooledPixels(1), torch.zeros(1, 16, 16))
    with pytest.raises(ValueError, match="x must be"):
        roundtrip(PooledPixels(1), torch.zeros(0, 1, 16, 16))
    with pytest.raises(ValueError, match="perceptual_fn"):
        roundtrip(PooledPixels(1), _images(), perceptual_fn="lpips")


def _photo(seed):
    """A smooth RGB 'photograph' (3, 64, 96) in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 6, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(coarse, size=(64, 96), mode="bilinear")[0]


def test_jpeg_scores_the_patches_of_the_decoded_photographs():
    crops = [_photo(0), _photo(1)]
    out = jpeg_patches_at_bpp(crops, 1.0)
    assert torch.equal(out["x"], torch.cat([patchify(c, 32) for c in crops]))
    assert out["rec"].shape == (12, 3, 32, 32) and 1 <= out["quality"] <= 95
    assert out["psnr_db"] == pytest.approx(psnr(out["rec"], out["x"]).mean().item())
    assert out["perceptual"] is None and isinstance(out["matched"], bool)
    with pytest.raises(ValueError, match="patch_size"):
        jpeg_patches_at_bpp(crops, 1.0, patch_size=8)
    with pytest.raises(ValueError, match="target_bpp"):
        jpeg_patches_at_bpp(crops, 0.0)


def test_offset_share_closed_forms():
    x = _images(b=2, c=3)
    shift = torch.tensor([0.1, -0.2, 0.3]).view(1, 3, 1, 1)
    assert offset_share(x + shift, x) == pytest.approx(1.0)
    pattern = torch.ones(1, 1, 16, 16)
    pattern[..., ::2] = -1  # zero mean over the pixels
    assert offset_share(x + 0.1 * pattern, x) == pytest.approx(0.0, abs=1e-12)
    # MSE = offset^2 + pattern^2 exactly: 0.04 / (0.04 + 0.01)
    assert offset_share(x + 0.2 + 0.1 * pattern, x) == pytest.approx(0.8)
    assert offset_share(x, x) == 0.0
    with pytest.raises(ValueError, match="one shape"):
        offset_share(x, x[:1])
