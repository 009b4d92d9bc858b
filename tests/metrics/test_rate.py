"""Latent rate (bits per pixel) and the JPEG baseline."""

from __future__ import annotations

import math

import pytest
import torch

from ldm_teach.data import patchify, photo_crops
from ldm_teach.metrics import psnr
from ldm_teach.metrics.rate import (
    empirical_entropy_bits,
    jpeg_at_bpp,
    jpeg_bits_per_pixel,
    jpeg_roundtrip,
    latent_bits_per_pixel,
    quantize_latent,
)


def test_quantize_latent_error_is_at_most_half_a_step():
    z = torch.randn(8, 3, 4, 4) * torch.tensor([1.0, 5.0, 0.1]).view(1, 3, 1, 1)
    for bits in (2, 8):
        z_hat, sym = quantize_latent(z, bits)
        step = (z.amax(dim=(0, 2, 3)) - z.amin(dim=(0, 2, 3))) / (2**bits - 1)
        err = (z_hat - z).abs().amax(dim=(0, 2, 3))
        assert bool((err <= step / 2 + 1e-6).all())
        assert int(sym.min()) == 0 and int(sym.max()) == 2**bits - 1
        assert sym.dtype == torch.int64


def test_constant_channel_is_kept_exactly():
    z = torch.ones(2, 1, 3, 3) * 0.7
    z_hat, sym = quantize_latent(z, 8)
    assert torch.equal(z_hat, z) and int(sym.max()) == 0


def test_entropy_of_known_distributions():
    uniform = torch.arange(256).view(1, 1, 16, 16)
    assert empirical_entropy_bits(uniform) == pytest.approx(8.0)
    constant = torch.zeros(1, 2, 4, 4, dtype=torch.int64)
    assert empirical_entropy_bits(constant) == 0.0
    half = torch.tensor([0, 1] * 8).view(1, 1, 4, 4)
    assert empirical_entropy_bits(half) == pytest.approx(1.0)


def test_latent_rate_counts_elements_per_pixel():
    z = torch.randn(5, 4, 8, 8)  # f = 4 on 32x32: 256 elements for 1024 pixels
    r = latent_bits_per_pixel(z, (32, 32), bits=8)
    assert r["elements_per_pixel"] == 0.25
    assert r["raw_bpp"] == 2.0
    assert 0 < r["entropy_bpp"] <= r["raw_bpp"]
    assert r["entropy_bpp"] == pytest.approx(r["entropy_bits_per_element"] * 0.25)


def test_rate_bad_inputs():
    with pytest.raises(ValueError, match="bits"):
        quantize_latent(torch.zeros(1, 1, 2, 2), 0)
    with pytest.raises(ValueError, match=r"\(B, c, h, w\)"):
        quantize_latent(torch.zeros(4, 4), 8)
    with pytest.raises(ValueError, match="image_hw"):
        latent_bits_per_pixel(torch.zeros(1, 1, 2, 2), (0, 32))
    with pytest.raises(ValueError, match="integer"):
        empirical_entropy_bits(torch.zeros(1, 1, 2, 2))


def test_jpeg_roundtrip_sizes_and_quality_order():
    img = photo_crops("test")[0]
    low, n_low = jpeg_roundtrip(img, 5)
    high, n_high = jpeg_roundtrip(img, 90)
    assert low.shape == img.shape and low.dtype == torch.float32
    assert n_low < n_high
    assert psnr(high[None], img[None]).item() > psnr(low[None], img[None]).item()
    grey, _ = jpeg_roundtrip(img[:1], 50)
    assert grey.shape == (1, *img.shape[1:])
    with pytest.raises(ValueError, match="quality"):
        jpeg_roundtrip(img, 0)
    with pytest.raises(ValueError, match="image"):
        jpeg_roundtrip(img[None], 50)


def test_jpeg_at_bpp_matches_or_says_it_cannot():
    crops = photo_crops("test")
    res = jpeg_at_bpp(crops, 1.0)
    assert res["matched"] and res["bpp"] == pytest.approx(1.0, rel=0.1)
    _, bpp_check = jpeg_bits_per_pixel(crops, res["quality"])
    assert res["bpp"] == bpp_check
    too_low = jpeg_at_bpp(crops, 0.01)
    assert not too_low["matched"] and too_low["quality"] == 1
    too_high = jpeg_at_bpp(crops, 100.0)
    assert not too_high["matched"] and too_high["quality"] == 95
    with pytest.raises(ValueError, match="target_bpp"):
        jpeg_at_bpp(crops, 0)
    assert math.isfinite(res["bpp"])


def test_photo_crops_are_exactly_the_test_patches():
    from ldm_teach.data import photo_patches

    patches = torch.cat([patchify(c, 32) for c in photo_crops("test", 32)])
    assert torch.equal(patches, photo_patches("test", 32))
    with pytest.raises(ValueError, match="multiples"):
        patchify(torch.zeros(3, 33, 32), 32)


def test_rate_distortion_point_on_a_small_autoencoder():
    from ldm_teach.autoencoders import AutoencoderKL, AutoencoderKLConfig
    from ldm_teach.metrics.rate import rate_distortion_point

    torch.manual_seed(0)
    ae = AutoencoderKL(
        AutoencoderKLConfig(
            in_channels=3, base_channels=8, channel_mult=(1, 2), latent_channels=4, norm_groups=4
        )
    ).eval()
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    p = rate_distortion_point(ae, x, bits=8)
    assert p["f"] == 2 and p["channels"] == 4
    assert p["raw_bpp"] == 8 * 4 / 4  # 4 channels on a 2x-downsampled grid: 8 bpp
    assert p["entropy_bpp"] <= p["raw_bpp"]
    # 8-bit quantisation of the latent costs little against the float latent
    assert abs(p["psnr_db"] - p["psnr_db_float"]) < 0.5
    coarse = rate_distortion_point(ae, x, bits=2)
    assert coarse["raw_bpp"] == 2.0
    assert p["perceptual"] is None
    with_l1 = rate_distortion_point(
        ae, x, perceptual_fn=lambda a, b: (a - b).abs().flatten(1).mean(1)
    )
    assert with_l1["perceptual"] > 0


def test_rate_functions_refuse_nan_batches_and_vq_models():
    from ldm_teach.autoencoders import VQVAE, VQVAEConfig
    from ldm_teach.metrics.rate import rate_distortion_point

    with pytest.raises(ValueError, match="NaN"):
        quantize_latent(torch.full((1, 1, 2, 2), float("nan")))
    with pytest.raises(ValueError, match="non-empty"):
        quantize_latent(torch.zeros(0, 4, 8, 8))
    with pytest.raises(ValueError, match="smaller than the latent grid"):
        latent_bits_per_pixel(torch.randn(2, 4, 8, 8), (4, 4))
    with pytest.raises(ValueError, match="not a batch tensor"):
        jpeg_at_bpp(torch.zeros(2, 3, 32, 32), 1.0)
    vq = VQVAE(VQVAEConfig(in_channels=1, base_channels=8, channel_mult=(1, 2), norm_groups=4))
    with pytest.raises(TypeError, match="AutoencoderKL"):
        rate_distortion_point(vq, torch.zeros(2, 1, 8, 8))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 255.0])
def test_jpeg_roundtrip_refuses_what_is_not_an_image_in_range(bad):
    # found by the third bad-input pass: an all-NaN image gave a finite image and a size
    from ldm_teach.metrics.rate import jpeg_roundtrip

    with pytest.raises(ValueError, match="image must be"):
        jpeg_roundtrip(torch.full((1, 32, 32), bad), 50)
