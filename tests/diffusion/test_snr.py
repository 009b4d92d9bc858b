"""The effective SNR in dB: closed form from a schedule, and measured on data."""

from __future__ import annotations

import math

import pytest
import torch

from ldm_teach.diffusion import (
    NoiseSchedule,
    ScheduleConfig,
    effective_snr_db,
    latent_std_snr_scale,
    measured_snr_db,
    shifted_schedule,
)

SD = NoiseSchedule(
    ScheduleConfig(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
)
T_ALL = torch.arange(1000)


def test_effective_snr_db_is_ten_log10_of_sigma_squared_snr():
    t = torch.tensor([0, 10, 500, 999])
    ac = SD.alphas_cumprod[t]
    for sigma in (1.0, 2.25, 0.3):
        expected = 10 * torch.log10(sigma**2 * ac / (1 - ac))
        got = effective_snr_db(SD, t, sigma)
        assert got.dtype == torch.float64 and got.shape == t.shape
        assert torch.allclose(got, expected, atol=1e-9)


def test_a_factor_sigma_is_a_constant_shift_and_the_std_shift_undoes_it():
    sigma = 2.25
    gap = effective_snr_db(SD, T_ALL, sigma) - effective_snr_db(SD, T_ALL)
    assert torch.allclose(gap, torch.full_like(gap, 20 * math.log10(sigma)), atol=1e-9)
    shifted = shifted_schedule(SD, 1 / latent_std_snr_scale(sigma))
    # unscaled latents under the shifted schedule see the SNR unit-variance ones see under SD
    assert (
        effective_snr_db(shifted, T_ALL, sigma) - effective_snr_db(SD, T_ALL)
    ).abs().max() < 1e-6


def test_measured_snr_db_estimates_the_closed_form():
    x = torch.randn(64, 4, 8, 8, generator=torch.Generator().manual_seed(1)) * 2.0
    ms = float(x.pow(2).mean())
    for abar in (0.9, 0.5, 0.1):
        closed = 10 * math.log10(ms * abar / (1 - abar))
        assert abs(measured_snr_db(x, abar) - closed) < 0.1  # 16k noise draws: ~0.05 dB
    assert measured_snr_db(x, 0.5, seed=3) == measured_snr_db(x, 0.5, seed=3)
    assert measured_snr_db(x, 0.5, seed=3) != measured_snr_db(x, 0.5, seed=4)


def test_pooling_a_constant_image_raises_the_snr_by_s_squared():
    x = torch.ones(32, 1, 16, 16)  # no structure: pooling keeps all of the signal
    base = measured_snr_db(x, 0.5)
    for s in (2, 4):
        gain = measured_snr_db(x, 0.5, pool=s) - base
        assert abs(gain - 10 * math.log10(s * s)) < 0.3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha_bar": 1.0}, "alpha_bar must be a number in"),
        ({"alpha_bar": 0.0}, "alpha_bar must be"),
        ({"alpha_bar": float("nan")}, "alpha_bar must be"),
        ({"alpha_bar": 0.5, "pool": 3}, "pool must divide"),
        ({"alpha_bar": 0.5, "pool": 0}, "pool must be an int >= 1"),
        ({"alpha_bar": 0.5, "seed": -1}, "seed must be an int >= 0"),
        ({"alpha_bar": 0.5, "seed": True}, "seed must be"),
    ],
)
def test_measured_snr_db_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        measured_snr_db(torch.ones(2, 1, 8, 8), **kwargs)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (torch.ones(8, 8), r"\(B, C, H, W\)"),
        (torch.ones(2, 1, 8, 8, dtype=torch.long), "floating-point"),
        (torch.full((2, 1, 8, 8), float("nan")), "NaN or infinite"),
        (torch.zeros(2, 1, 8, 8), "all zeros"),
    ],
)
def test_measured_snr_db_refuses_bad_data(data, match):
    with pytest.raises(ValueError, match=match):
        measured_snr_db(data, 0.5)


def test_effective_snr_db_refuses_a_bad_std_and_bad_timesteps():
    for bad in (0.0, -1.0, float("inf"), "2"):
        with pytest.raises(ValueError, match="data_std must be"):
            effective_snr_db(SD, T_ALL, bad)
    with pytest.raises(ValueError, match="t must be"):
        effective_snr_db(SD, torch.tensor([1000]))
