"""Log-SNR shift of a noise schedule (Hoogeboom et al. 2023, arXiv:2301.11093, Sec. 3.1)."""

from __future__ import annotations

import math

import pytest
import torch

from ldm_teach.diffusion import (
    NoiseSchedule,
    ScheduleConfig,
    chapter_heuristic_betas,
    latent_std_snr_scale,
    resolution_snr_scale,
    shift_betas,
    shifted_schedule,
)

CONFIGS = [
    ScheduleConfig(num_train_timesteps=1000),
    ScheduleConfig(
        num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012
    ),
    ScheduleConfig(num_train_timesteps=200, beta_schedule="cosine"),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_scale_one_returns_the_same_alphas_cumprod(config):
    schedule = NoiseSchedule(config)
    shifted = shifted_schedule(schedule, 1.0)
    assert torch.allclose(shifted.alphas_cumprod, schedule.alphas_cumprod, rtol=1e-12, atol=0)
    assert torch.allclose(shifted.betas, schedule.betas, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("snr_scale", [0.25, 0.0324, 4.0])
def test_snr_is_multiplied_by_snr_scale_at_every_t(config, snr_scale):
    schedule = NoiseSchedule(config)
    shifted = shifted_schedule(schedule, snr_scale)
    t = torch.arange(config.num_train_timesteps)
    assert shifted.alphas_cumprod.dtype == torch.float64
    ratio = shifted.snr(t) / schedule.snr(t)
    assert torch.allclose(ratio, torch.full_like(ratio, snr_scale), rtol=1e-9, atol=0)
    # log-SNR moves by exactly log(snr_scale)
    diff = shifted.log_snr(t) - schedule.log_snr(t)
    assert torch.allclose(diff, torch.full_like(diff, math.log(snr_scale)), rtol=0, atol=1e-9)


@pytest.mark.parametrize("config", CONFIGS)
def test_shift_then_inverse_shift_round_trips(config):
    schedule = NoiseSchedule(config)
    back = shifted_schedule(shifted_schedule(schedule, 0.1), 1 / 0.1)
    assert torch.allclose(back.alphas_cumprod, schedule.alphas_cumprod, rtol=1e-10, atol=0)
    assert torch.allclose(back.betas, schedule.betas, rtol=1e-7, atol=0)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("snr_scale", [1e-3, 0.25, 30.0])
def test_shifted_alphas_cumprod_strictly_decreasing_in_unit_interval(config, snr_scale):
    ac = shifted_schedule(NoiseSchedule(config), snr_scale).alphas_cumprod
    assert bool((ac > 0).all()) and bool((ac < 1).all())
    assert bool((ac[1:] < ac[:-1]).all())


def test_smaller_snr_scale_gives_noisier_steps():
    schedule = NoiseSchedule(ScheduleConfig(num_train_timesteps=100))
    noisier = shifted_schedule(schedule, 0.25)
    assert bool((noisier.alphas_cumprod < schedule.alphas_cumprod).all())


def test_zero_terminal_snr_stays_zero():
    config = ScheduleConfig(num_train_timesteps=100, rescale_betas_zero_snr=True)
    shifted = shifted_schedule(NoiseSchedule(config), 0.5)
    assert shifted.alphas_cumprod[-1] == 0
    assert shifted.betas[-1] == 1
    t = torch.arange(99)
    ratio = shifted.snr(t) / NoiseSchedule(config).snr(t)
    assert torch.allclose(ratio, torch.full_like(ratio, 0.5), rtol=1e-9, atol=0)


def test_from_betas_matches_the_config_constructor():
    config = ScheduleConfig(num_train_timesteps=50, beta_schedule="cosine")
    a = NoiseSchedule(config)
    b = NoiseSchedule.from_betas(a.betas.clone(), config)
    for name in a._tensor_names():
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    with pytest.raises(ValueError, match="betas must be a tensor of shape"):
        NoiseSchedule.from_betas(a.betas[:-1], config)
    with pytest.raises(ValueError, match=r"betas must be finite and in \(0, 1\]"):
        NoiseSchedule.from_betas(torch.zeros(50, dtype=torch.float64), config)


def test_resolution_and_latent_std_scales():
    assert resolution_snr_scale(64, 32) == 0.25
    assert resolution_snr_scale(32, 64) == 4.0
    assert resolution_snr_scale(32, 32) == 1.0
    assert latent_std_snr_scale(0.5) == 0.25
    assert latent_std_snr_scale(3.0) == pytest.approx(9.0)


def test_latent_std_shift_is_the_effective_snr_of_unscaled_data():
    # data of std sigma under schedule s has SNR sigma² ᾱ/(1-ᾱ): that is shifted(s, sigma²)
    schedule = NoiseSchedule(ScheduleConfig(num_train_timesteps=100))
    sigma = 5.0
    shifted = shifted_schedule(schedule, latent_std_snr_scale(sigma))
    t = torch.arange(100)
    ac = schedule.alphas_cumprod
    effective = sigma**2 * ac / (1 - ac)
    assert torch.allclose(shifted.snr(t), effective, rtol=1e-9, atol=0)


@pytest.mark.parametrize("sigma", [0.18215, 0.5, 2.0])
def test_chapter_heuristic_betas_scale_the_linear_endpoints(sigma):
    config = ScheduleConfig(num_train_timesteps=100, beta_start=1e-4, beta_end=0.02)
    betas = chapter_heuristic_betas(config, sigma)
    expected = torch.linspace(1e-4 * sigma, 0.02 * sigma, 100, dtype=torch.float64)
    assert betas.dtype == torch.float64
    assert torch.allclose(betas, expected, rtol=1e-12, atol=0)


def test_chapter_heuristic_is_not_a_constant_snr_shift_and_clips_betas():
    config = ScheduleConfig(num_train_timesteps=100, beta_start=1e-4, beta_end=0.02)
    schedule = NoiseSchedule(config)
    heuristic = NoiseSchedule.from_betas(chapter_heuristic_betas(config, 0.5), config)
    ratio = heuristic.snr(torch.arange(100)) / schedule.snr(torch.arange(100))
    # at t = 0, SNR = (1 - β_0) / β_0, so the heuristic multiplies it by about 1/σ = 2, ...
    expected_first = ((1 - 0.5e-4) / 0.5e-4) / ((1 - 1e-4) / 1e-4)
    assert float(ratio[0]) == pytest.approx(expected_first, rel=1e-9)
    # ... but by 2.67 at the last step: not a constant factor, so not a log-SNR shift
    assert float(ratio.max() / ratio.min()) > 1.3
    big = ScheduleConfig(num_train_timesteps=10, beta_start=0.1, beta_end=0.9)
    assert float(chapter_heuristic_betas(big, 5.0).max()) < 1.0


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan, True, "2"])
def test_bad_snr_scale_raises(bad):
    schedule = NoiseSchedule(ScheduleConfig(num_train_timesteps=10))
    with pytest.raises(ValueError, match="snr_scale"):
        shifted_schedule(schedule, bad)


@pytest.mark.parametrize("bad", [0.0, -0.5, math.inf, math.nan])
def test_bad_latent_std_raises(bad):
    with pytest.raises(ValueError, match="latent_std"):
        latent_std_snr_scale(bad)
    with pytest.raises(ValueError, match="latent_std"):
        chapter_heuristic_betas(ScheduleConfig(num_train_timesteps=10), bad)


def test_bad_resolution_and_schedule_raise():
    with pytest.raises(ValueError, match="resolution"):
        resolution_snr_scale(0, 32)
    with pytest.raises(ValueError, match="base_resolution"):
        resolution_snr_scale(32, -4)
    with pytest.raises(ValueError, match="beta_schedule"):
        chapter_heuristic_betas(ScheduleConfig(num_train_timesteps=10, beta_schedule="cosine"), 0.5)


# --- ScheduleConfig.snr_scale: a shifted schedule that can be saved and rebuilt ---------


@pytest.mark.parametrize("beta_schedule", ["linear", "scaled_linear", "cosine"])
@pytest.mark.parametrize("snr_scale", [0.2, 1.0, 5.0])
def test_config_snr_scale_multiplies_snr_everywhere(beta_schedule, snr_scale):
    base = NoiseSchedule(ScheduleConfig(beta_schedule=beta_schedule))
    shifted = NoiseSchedule(ScheduleConfig(beta_schedule=beta_schedule, snr_scale=snr_scale))
    t = torch.arange(1000)
    torch.testing.assert_close(shifted.snr(t), snr_scale * base.snr(t), rtol=1e-9, atol=0)


def test_shifted_schedule_config_rebuilds_the_same_schedule():
    base = NoiseSchedule(ScheduleConfig(beta_schedule="scaled_linear", snr_scale=2.0))
    shifted = shifted_schedule(base, 0.25)
    assert shifted.config.snr_scale == 0.5
    rebuilt = NoiseSchedule(shifted.config)
    torch.testing.assert_close(rebuilt.alphas_cumprod, shifted.alphas_cumprod, rtol=1e-12, atol=0)


def test_config_snr_scale_keeps_zero_terminal_snr():
    cfg = ScheduleConfig(rescale_betas_zero_snr=True, snr_scale=3.0)
    s = NoiseSchedule(cfg)
    assert float(s.alphas_cumprod[-1]) == 0.0
    assert float(s.betas[-1]) == 1.0


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "2"])
def test_config_snr_scale_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="snr_scale"):
        ScheduleConfig(snr_scale=bad)


def test_shift_betas_matches_shifted_schedule():
    base = NoiseSchedule(ScheduleConfig(beta_schedule="cosine"))
    torch.testing.assert_close(shift_betas(base.betas, 4.0), shifted_schedule(base, 4.0).betas)


@pytest.mark.parametrize("snr_scale", [1e16, 1e-20])
def test_too_extreme_shift_is_refused_not_nan(snr_scale):
    with pytest.raises(ValueError, match="too extreme"):
        NoiseSchedule(ScheduleConfig(snr_scale=snr_scale))
    with pytest.raises(ValueError, match="too extreme"):
        shifted_schedule(NoiseSchedule(ScheduleConfig()), snr_scale)


@pytest.mark.parametrize(
    "betas, error, match",
    [
        (torch.tensor([0.1, float("nan")]), ValueError, "finite"),
        (torch.tensor([0.1, 1.5]), ValueError, r"\(0, 1\]"),
        (torch.tensor([-0.1, 0.5]), ValueError, r"\(0, 1\]"),
        (torch.tensor([0.0, 0.5]), ValueError, r"\(0, 1\]"),
        (torch.tensor([0.1, 1.0, 0.2]), ValueError, "only at the last"),
        (torch.tensor([]), ValueError, "non-empty 1-D"),
        (torch.full((3, 4), 0.1), ValueError, "non-empty 1-D"),
        (torch.tensor(0.1), ValueError, "non-empty 1-D"),
        ([0.1, 0.2], TypeError, "torch.Tensor"),
    ],
)
def test_shift_betas_refuses_bad_betas(betas, error, match):
    with pytest.raises(error, match=match):
        shift_betas(betas, 2.0)


def test_shift_betas_works_from_any_dtype_and_keeps_zero_terminal_snr():
    base = NoiseSchedule(ScheduleConfig(rescale_betas_zero_snr=True))
    out = shift_betas(base.betas.float(), 3.0)
    assert out.dtype == torch.float64 and float(out[-1]) == 1.0


def test_shifted_schedule_needs_a_noise_schedule():
    with pytest.raises(TypeError, match="NoiseSchedule"):
        shifted_schedule(ScheduleConfig(), 2.0)


def test_snr_scale_is_stored_as_a_plain_float():
    import numpy as np

    for value in (2, np.float32(2.0), np.float64(2.0)):
        assert type(ScheduleConfig(snr_scale=value).snr_scale) is float
