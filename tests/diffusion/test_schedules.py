"""Closed-form facts about the noise schedules (ldm_teach.diffusion.schedules)."""

import dataclasses
import math

import pytest
import torch

from ldm_teach.diffusion.betas import (
    BETA_SCHEDULES,
    cosine_betas,
    linear_betas,
    rescale_zero_terminal_snr,
    scaled_linear_betas,
    sigmoid_betas,
)
from ldm_teach.diffusion.schedules import NoiseSchedule, ScheduleConfig

SD_BETAS = {"beta_start": 0.00085, "beta_end": 0.012}  # Stable Diffusion's scaled_linear


def _config(name: str, **kw) -> ScheduleConfig:
    extra = SD_BETAS if name == "scaled_linear" else {}
    return ScheduleConfig(beta_schedule=name, **{**extra, **kw})


@pytest.mark.parametrize("name", BETA_SCHEDULES)
@pytest.mark.parametrize("T", [1, 10, 1000])
def test_alphas_cumprod_strictly_decreasing_in_unit_interval(name, T):
    s = NoiseSchedule(_config(name, num_train_timesteps=T))
    for attr in (
        "betas",
        "alphas",
        "alphas_cumprod",
        "alphas_cumprod_prev",
        "posterior_variance",
        "posterior_log_variance_clipped",
        "posterior_mean_coef1",
        "posterior_mean_coef2",
    ):
        value = getattr(s, attr)
        assert value.dtype == torch.float64, attr
        assert value.shape == (T,), attr
        assert torch.isfinite(value).all(), attr
    ac = s.alphas_cumprod
    assert ((s.betas > 0) & (s.betas < 1)).all()
    assert ((ac > 0) & (ac < 1)).all()
    assert (ac[1:] < ac[:-1]).all()
    assert s.alphas_cumprod_prev[0] == 1.0
    torch.testing.assert_close(s.alphas_cumprod_prev[1:], ac[:-1], rtol=0, atol=0)
    torch.testing.assert_close(ac, torch.cumprod(1 - s.betas, 0))
    assert len(s) == s.num_train_timesteps == T


def test_linear_endpoints_and_constant_step():
    s = NoiseSchedule(ScheduleConfig())
    assert s.betas[0].item() == pytest.approx(1e-4, abs=1e-15)
    assert s.betas[-1].item() == pytest.approx(0.02, abs=1e-15)
    torch.testing.assert_close(
        s.betas.diff(), torch.full((999,), (0.02 - 1e-4) / 999, dtype=torch.float64)
    )
    # Ho et al. 2020: ᾱ_{T-1} ≈ 4.04e-5 for this schedule
    assert s.alphas_cumprod[-1].item() == pytest.approx(4.0358e-5, rel=1e-3)


def test_scaled_linear_is_square_of_linear_sqrt():
    s = NoiseSchedule(_config("scaled_linear"))
    sqrt_betas = s.betas.sqrt()
    assert sqrt_betas[0].item() == pytest.approx(0.00085**0.5)
    assert sqrt_betas[-1].item() == pytest.approx(0.012**0.5)
    step = sqrt_betas.diff()
    torch.testing.assert_close(step, torch.full_like(step, step.mean().item()))


def test_cosine_matches_nichol_dhariwal_alpha_bar():
    T, s_ = 1000, 0.008
    s = NoiseSchedule(_config("cosine", num_train_timesteps=T))

    def f(u: float) -> float:
        return math.cos((u + s_) / (1 + s_) * math.pi / 2) ** 2

    # ᾱ_t = f((t+1)/T) / f(0) wherever β is not clipped (all but the last step here)
    expected = torch.tensor([f((t + 1) / T) / f(0) for t in range(T - 1)], dtype=torch.float64)
    torch.testing.assert_close(s.alphas_cumprod[:-1], expected, rtol=1e-10, atol=1e-14)
    assert s.betas.max().item() == pytest.approx(0.999)
    assert (cosine_betas(T) <= 0.999).all()


def test_sigmoid_is_symmetric_about_its_middle():
    s = NoiseSchedule(_config("sigmoid", num_train_timesteps=100))
    torch.testing.assert_close(
        s.betas + s.betas.flip(0), torch.full((100,), 1e-4 + 0.02, dtype=torch.float64)
    )


@pytest.mark.parametrize("name", BETA_SCHEDULES)
def test_rescale_zero_terminal_snr(name):
    base = NoiseSchedule(_config(name, num_train_timesteps=100))
    s = NoiseSchedule(_config(name, num_train_timesteps=100, rescale_betas_zero_snr=True))
    assert s.alphas_cumprod[-1].item() == pytest.approx(0.0, abs=1e-20)
    assert s.betas[-1].item() == pytest.approx(1.0)
    assert s.snr(torch.tensor([99])).item() == pytest.approx(0.0, abs=1e-20)
    torch.testing.assert_close(s.alphas_cumprod[0], base.alphas_cumprod[0])  # first value kept
    # Lin et al. Alg. 1: sqrt(ᾱ) is an affine function of the old sqrt(ᾱ)
    old, new = base.alphas_cumprod.sqrt(), s.alphas_cumprod.sqrt()
    ratio = new[:-1] / (old[:-1] - old[-1])
    torch.testing.assert_close(ratio, torch.full_like(ratio, ratio[0].item()))
    assert (s.alphas_cumprod[1:] < s.alphas_cumprod[:-1]).all()
    assert torch.isfinite(s.posterior_variance).all()


def test_rescale_function_alone():
    betas = rescale_zero_terminal_snr(linear_betas(10, 1e-4, 0.02))
    assert torch.cumprod(1 - betas, 0)[-1].item() == pytest.approx(0.0, abs=1e-20)


def test_snr_and_log_snr():
    s = NoiseSchedule(ScheduleConfig())
    t = torch.arange(1000)
    ac = s.alphas_cumprod
    torch.testing.assert_close(s.snr(t), ac / (1 - ac))
    torch.testing.assert_close(s.log_snr(t), torch.log(ac / (1 - ac)))
    assert (s.snr(t).diff() < 0).all()
    assert s.snr(t).dtype == torch.float64


@pytest.mark.parametrize("method", ["snr", "log_snr"])
@pytest.mark.parametrize(
    "t, match",
    [
        (torch.tensor([-1]), r"t must be integers in \[0, 999\], got -1"),  # was SNR(999)
        (torch.tensor([5, 1000]), r"t must be integers in \[0, 999\], got 1000"),  # IndexError
        (torch.tensor([1.5]), "t must be an integer tensor"),
        ([3], "t must be an integer torch.Tensor"),
    ],
)
def test_snr_and_log_snr_reject_bad_t(method, t, match):
    s = NoiseSchedule(ScheduleConfig())
    with pytest.raises(ValueError, match=match):
        getattr(s, method)(t)
    assert getattr(s, method)(torch.tensor([[0, 999]])).shape == (1, 2)  # any shape is fine


def test_posterior_coefficients_are_consistent():
    s = NoiseSchedule(ScheduleConfig(num_train_timesteps=200))
    ac, ac_prev = s.alphas_cumprod, s.alphas_cumprod_prev
    # E[x_{t-1} | x0] = sqrt(ᾱ_{t-1}) x0 = coef1 x0 + coef2 E[x_t | x0]
    torch.testing.assert_close(
        s.posterior_mean_coef1 + s.posterior_mean_coef2 * ac.sqrt(), ac_prev.sqrt()
    )
    # Var[x_{t-1} | x0] = 1 - ᾱ_{t-1} = coef2² (1 - ᾱ_t) + β̃_t  (law of total variance)
    torch.testing.assert_close(
        s.posterior_mean_coef2**2 * (1 - ac) + s.posterior_variance, 1 - ac_prev
    )
    assert s.posterior_variance[0] == 0.0
    assert (s.posterior_variance <= s.betas).all()
    assert s.posterior_log_variance_clipped[0] == torch.log(s.posterior_variance[1])
    torch.testing.assert_close(
        s.posterior_log_variance_clipped[1:], torch.log(s.posterior_variance[1:])
    )
    assert s.posterior_mean_coef1[0].item() == pytest.approx(1.0)  # at t=0 the mean is x0
    assert s.posterior_mean_coef2[0].item() == 0.0


def test_to_moves_every_tensor_and_keeps_values():
    s = NoiseSchedule(ScheduleConfig(num_train_timesteps=10))
    moved = s.to("meta")
    assert moved.betas.device.type == "meta"
    assert moved.posterior_mean_coef2.device.type == "meta"
    assert s.betas.device.type == "cpu"  # the original is untouched
    same = s.to("cpu")
    torch.testing.assert_close(same.alphas_cumprod, s.alphas_cumprod, rtol=0, atol=0)
    assert same.config == s.config


def test_config_is_frozen():
    cfg = ScheduleConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.num_train_timesteps = 10  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_train_timesteps": 0}, "num_train_timesteps"),
        ({"num_train_timesteps": 10.0}, "num_train_timesteps"),
        ({"num_train_timesteps": True}, "num_train_timesteps"),
        ({"beta_schedule": "squaredcos_cap_v2"}, "beta_schedule"),
        ({"beta_start": 0.0}, "beta_start"),
        ({"beta_end": 1.0}, "beta_end"),
        ({"beta_start": 0.03, "beta_end": 0.02}, "beta_start must be <= beta_end"),
        ({"rescale_betas_zero_snr": 1}, "rescale_betas_zero_snr"),
        ({"num_train_timesteps": 1, "rescale_betas_zero_snr": True}, "rescale_betas_zero_snr"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ScheduleConfig(**kwargs)


@pytest.mark.parametrize(
    "fn, args, match",
    [
        (linear_betas, (10, -1.0, 2.0), "beta_start must be a finite number in \\(0, 1\\)"),
        (linear_betas, (10, 1e-4, 2.0), "beta_end"),
        (linear_betas, (10, 1e-4, math.inf), "beta_end"),
        (linear_betas, (0, 1e-4, 0.02), "num_train_timesteps must be an int >= 1"),
        (linear_betas, (10.0, 1e-4, 0.02), "num_train_timesteps"),
        (scaled_linear_betas, (10, 0.0, 0.012), "beta_start"),
        (scaled_linear_betas, (10, 0.00085, math.nan), "beta_end"),
        (sigmoid_betas, (10, math.nan, 0.02), "beta_start"),
        (sigmoid_betas, (-3, 1e-4, 0.02), "num_train_timesteps"),
        (cosine_betas, (10, -1.0), "s must be a finite number >= 0"),
        (cosine_betas, (10, math.nan), "s must be"),
        (cosine_betas, (10, 0.008, 0.0), "max_beta must be a number in \\(0, 1\\]"),
        (cosine_betas, (10, 0.008, 1.5), "max_beta"),
        (cosine_betas, (True,), "num_train_timesteps"),
    ],
)
def test_beta_functions_reject_bad_arguments(fn, args, match):
    # these used to return NaN (cosine s=-1, sigmoid NaN) or negative betas (linear -1, 2)
    with pytest.raises(ValueError, match=match):
        fn(*args)


def test_beta_functions_accept_the_edges():
    assert torch.isfinite(cosine_betas(10, s=0.0, max_beta=1.0)).all()
    assert linear_betas(1, 0.5, 0.5).tolist() == [0.5]


@pytest.mark.parametrize(
    "betas, match",
    [
        (torch.tensor([0.5], dtype=torch.float64), "length >= 2"),  # was NaN
        (torch.zeros(5, dtype=torch.float64), "must make sqrt"),  # constant ᾱ: was NaN
        ([0.1, 0.2], "1-D tensor"),
    ],
)
def test_rescale_zero_terminal_snr_refuses_degenerate_betas(betas, match):
    with pytest.raises(ValueError, match=match):
        rescale_zero_terminal_snr(betas)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.bool])
def test_snr_refuses_mask_dtypes(dtype):
    # a uint8 t used to be read as a boolean mask: snr(tensor([1,1,1,1], uint8)) gave 4 values
    s = NoiseSchedule(ScheduleConfig(num_train_timesteps=4))
    with pytest.raises(ValueError, match="t must be an integer tensor.*boolean mask"):
        s.snr(torch.ones(4, dtype=dtype))
    torch.testing.assert_close(s.snr(torch.ones(4, dtype=torch.int8)), s.snr(torch.ones(4).long()))


def test_num_train_timesteps_has_an_upper_bound():
    # found by the third bad-input pass: ScheduleConfig(num_train_timesteps=10**9) was
    # accepted and NoiseSchedule ran out of memory
    from ldm_teach.diffusion import ScheduleConfig

    with pytest.raises(ValueError, match="num_train_timesteps must be at most 100000"):
        ScheduleConfig(num_train_timesteps=10**9)
    with pytest.raises(ValueError, match="num_train_timesteps must be at most 100000"):
        linear_betas(100_001, 1e-4, 0.02)
    assert linear_betas(100_000, 1e-4, 0.02).shape == (100_000,)


def test_schedule_helpers_refuse_what_schedule_config_refuses():
    # found by the third bad-input pass: decreasing linear betas, a negative beta after
    # rescaling, and an snr_scale of 0 were returned without a word
    from ldm_teach.diffusion import latent_std_snr_scale
    from ldm_teach.diffusion.betas import rescale_zero_terminal_snr

    with pytest.raises(ValueError, match="beta_end must be >= beta_start"):
        linear_betas(10, 0.02, 1e-4)
    with pytest.raises(ValueError, match=r"betas must be in \[0, 1\]"):
        rescale_zero_terminal_snr(torch.tensor([-0.1, 0.1]))
    with pytest.raises(ValueError, match="latent_std must be a std whose square"):
        latent_std_snr_scale(1e-200)
    assert latent_std_snr_scale(0.5) == 0.25
