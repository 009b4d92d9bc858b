"""Tests for ldm_teach.metrics.image: PSNR and SSIM against closed-form values."""

import math

import pytest
import torch

from ldm_teach.metrics.image import psnr, ssim


def _images(b=3, c=3, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=g) * 1.6 - 0.8  # in [-0.8, 0.8]


def test_psnr_of_a_constant_offset_is_closed_form():
    x = _images()
    for delta in (0.1, 0.01):
        expected = 10 * math.log10(2.0**2 / delta**2)  # MSE = delta^2, data_range = 2
        out = psnr(x + delta, x)
        assert out.shape == (3,)
        assert torch.allclose(out, torch.full((3,), expected), atol=1e-3)


def test_psnr_is_per_image_and_respects_data_range():
    x = _images(b=2)
    y = x.clone()
    y[0] += 0.1
    y[1] += 0.2
    out = psnr(y, x)
    assert out[0] - out[1] == pytest.approx(20 * math.log10(2.0), abs=1e-3)  # half the error
    x01, y01 = (x + 1) / 2, (y + 1) / 2  # same images in [0, 1]
    assert torch.allclose(psnr(y01, x01, data_range=1.0), out, atol=1e-3)


def test_psnr_of_identical_images_is_inf():
    x = _images()
    assert torch.all(torch.isinf(psnr(x, x)))


def test_ssim_of_identical_images_is_one_and_drops_with_noise():
    x = _images()
    assert torch.allclose(ssim(x, x), torch.ones(3))
    g = torch.Generator().manual_seed(1)
    noisy = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    s = ssim(noisy, x)
    assert s.shape == (3,) and torch.all(s < 0.9) and torch.all(s > -1)


def test_ssim_of_constant_images_is_the_luminance_term():
    # flat images: sigma terms vanish, SSIM = (2 a b + C1) / (a^2 + b^2 + C1), Wang et al. Eq. 13
    a, b, data_range = 0.5, -0.25, 2.0
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    expected = (2 * a * b + c1) * c2 / ((a**2 + b**2 + c1) * c2)
    x = torch.full((1, 1, 16, 16), a)
    y = torch.full((1, 1, 16, 16), b)
    assert ssim(x, y).item() == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("metric", [psnr, ssim])
@pytest.mark.parametrize(
    "x, y, kwargs, argument",
    [
        (torch.zeros(2, 3, 16, 16), torch.zeros(2, 3, 16, 8), {}, "same shape"),
        (torch.zeros(3, 16, 16), torch.zeros(3, 16, 16), {}, "x must have shape"),
        (torch.zeros(2, 3, 16, 16), torch.zeros(2, 3, 16, 16, dtype=torch.int64), {}, "y must"),
        (torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16), {"data_range": 0.0}, "data_range"),
        (
            torch.linspace(0, 255, 256).view(1, 1, 16, 16),
            torch.zeros(1, 1, 16, 16),
            {},
            "data_range",
        ),
        (torch.full((1, 1, 16, 16), float("nan")), torch.zeros(1, 1, 16, 16), {}, "finite"),
        (torch.zeros(0, 3, 16, 16), torch.zeros(0, 3, 16, 16), {}, "x must be non-empty"),
        (
            torch.zeros(1, 1, 16, 16),
            torch.zeros(1, 1, 16, 16),
            {"data_range": float("inf")},
            "data_range must be finite",
        ),
        (torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16), {"data_range": "2"}, "number"),
        (_images(), _images(seed=1), {"data_range": 255.0}, r"data_range=2.0 for images in"),
        (
            (_images() + 1) / 2,  # [0, 1] images scored as if they were 0-255
            (_images(seed=1) + 1) / 2,
            {"data_range": 255},
            r"1.0 for images in \[0, 1\]",
        ),
    ],
)
def test_bad_inputs_raise(metric, x, y, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        metric(x, y, **kwargs)


def test_data_range_255_is_accepted_for_0_255_images():
    x = (_images() + 1) * 127.5  # in [25.5, 229.5]
    y = (_images(seed=1) + 1) * 127.5
    assert torch.allclose(psnr(x, y, data_range=255.0), psnr(x / 127.5 - 1, y / 127.5 - 1))
    # SSIM's luminance term depends on the mean, so only a pure rescaling leaves it unchanged
    assert torch.allclose(
        ssim(x, y, data_range=255.0), ssim(x / 255, y / 255, data_range=1.0), atol=1e-5
    )


def test_ssim_needs_the_full_window():
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))
