"""DDPM ancestral sampling (ldm_teach.diffusion.ddpm)."""

import math

import numpy as np
import pytest
import torch

from ldm_teach.diffusion.ddpm import ddpm_sample, ddpm_step
from ldm_teach.diffusion.forward import predict_x0_from_eps
from ldm_teach.diffusion.schedules import NoiseSchedule, ScheduleConfig

SHAPE = (2, 1, 3, 3)


@pytest.fixture(scope="module")
def schedule() -> NoiseSchedule:
    return NoiseSchedule(ScheduleConfig(num_train_timesteps=50, beta_end=0.2))


def test_step_is_posterior_mean_plus_scaled_noise(schedule):
    g = torch.Generator().manual_seed(0)
    x_t, eps, z = (torch.randn(SHAPE, generator=g, dtype=torch.float64) for _ in range(3))
    t = 20
    tb = torch.full((2,), t)
    x0_hat = predict_x0_from_eps(x_t, tb, eps, schedule)
    mean = schedule.posterior_mean_coef1[t] * x0_hat + schedule.posterior_mean_coef2[t] * x_t
    expected = mean + schedule.posterior_variance[t].sqrt() * z
    torch.testing.assert_close(ddpm_step(eps, t, x_t, schedule, variance_noise=z), expected)
    # a seeded generator draws the same z as torch.randn with the same seed
    out = ddpm_step(eps, t, x_t, schedule, generator=torch.Generator().manual_seed(7))
    z7 = torch.randn(SHAPE, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    torch.testing.assert_close(out, mean + schedule.posterior_variance[t].sqrt() * z7)


def test_step_at_t0_returns_predicted_x0_without_noise(schedule):
    x_t = torch.randn(SHAPE, dtype=torch.float64)
    eps = torch.randn(SHAPE, dtype=torch.float64)
    x0_hat = predict_x0_from_eps(x_t, torch.zeros(2, dtype=torch.long), eps, schedule)
    g = torch.Generator().manual_seed(0)
    torch.testing.assert_close(ddpm_step(eps, 0, x_t, schedule, generator=g), x0_hat)
    assert g.initial_seed() == 0 and torch.equal(
        g.get_state(), torch.Generator().manual_seed(0).get_state()
    )


def test_step_clip_sample_clamps_x0(schedule):
    x_t = torch.full(SHAPE, 3.0, dtype=torch.float64)
    x0 = torch.full(SHAPE, 5.0, dtype=torch.float64)
    out = ddpm_step(x0, 0, x_t, schedule, prediction_type="sample", clip_sample=1.0)
    torch.testing.assert_close(out, torch.ones(SHAPE, dtype=torch.float64))


def test_step_accepts_integer_like_timesteps(schedule):
    x_t, eps, z = torch.randn(SHAPE), torch.randn(SHAPE), torch.randn(SHAPE)
    ref = ddpm_step(eps, 5, x_t, schedule, variance_noise=z)
    for t in (np.int64(5), torch.tensor(5), torch.tensor([5])):
        torch.testing.assert_close(ddpm_step(eps, t, x_t, schedule, variance_noise=z), ref)


def test_step_keeps_dtype(schedule):
    x_t = torch.randn(SHAPE)
    assert ddpm_step(torch.randn(SHAPE), 10, x_t, schedule).dtype == torch.float32


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"t": 50}, r"t must be in \[0, 49\], got 50"),
        ({"t": 2.0}, "t must be an integer"),
        ({"prediction_type": "eps"}, "prediction_type must be one of"),
        ({"clip_sample": -1.0}, "clip_sample must be None or a positive float"),
        ({"model_output": torch.zeros(2, 1, 3, 4)}, "model_output must have the same shape as x_t"),
        (
            {"variance_noise": torch.zeros(1, 1, 3, 3)},
            "variance_noise must have the same shape as x_t",
        ),
    ],
)
def test_step_rejects_bad_input(schedule, kwargs, match):
    args = {
        "model_output": torch.zeros(SHAPE),
        "t": 5,
        "x_t": torch.zeros(SHAPE),
        "schedule": schedule,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ddpm_step(**args)


def test_sample_visits_every_timestep_in_descending_order(schedule):
    seen = []

    def model_fn(x_t, t):
        assert t.dtype == torch.long and t.shape == (2,)
        seen.append(int(t[0]))
        return torch.zeros_like(x_t)

    out = ddpm_sample(
        model_fn, SHAPE, schedule, generator=torch.Generator().manual_seed(0), progress=False
    )
    assert seen == list(range(49, -1, -1))
    assert out.shape == SHAPE and out.dtype == torch.float32


def test_sample_is_reproducible_with_a_seed(schedule):
    def model_fn(x_t, t):
        return 0.1 * x_t

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return ddpm_sample(model_fn, SHAPE, schedule, generator=g, progress=False)

    torch.testing.assert_close(run(3), run(3), rtol=0, atol=0)
    assert not torch.allclose(run(3), run(4))


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
def test_sample_with_oracle_model_recovers_x0(schedule, prediction_type, oracle):
    # At t = 0, coef1 = 1 and coef2 = 0, so the last step returns the model's x̂0 = x0 exactly.
    x0 = torch.linspace(-1, 1, 9, dtype=torch.float64).reshape(1, 1, 3, 3)
    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = ddpm_sample(
        oracle(x0, schedule, prediction_type),
        SHAPE,
        schedule,
        prediction_type=prediction_type,
        x_T=x_T,
        generator=torch.Generator().manual_seed(2),
        progress=False,
    )
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, x0.expand(SHAPE), rtol=0, atol=1e-9)


def test_sample_gaussian_data_variance_follows_the_linear_recursion():
    # 1-D data x0 ~ N(0, s²) with the exact eps-predictor E[eps | x_t] = sqrt(1-ᾱ) x_t / m²,
    # m² = ᾱ s² + 1 - ᾱ. Then x̂0 = sqrt(ᾱ) s² x_t / m², every step is linear,
    # x_{t-1} = a_t x_t + sqrt(β̃_t) z with a_t = coef1 sqrt(ᾱ_t) s² / m² + coef2, and the sample
    # variance obeys Var_{t-1} = a_t² Var_t + β̃_t from Var_{T-1} = 1.
    s_data, N = 0.5, 20_000
    sched = NoiseSchedule(ScheduleConfig(num_train_timesteps=100, beta_end=0.1))
    ac = sched.alphas_cumprod

    def model_fn(x_t, t):
        a = ac[t].reshape(-1, 1, 1, 1).to(x_t.dtype)
        return (1 - a).sqrt() * x_t / (a * s_data**2 + 1 - a)

    out = ddpm_sample(
        model_fn, (N, 1, 1, 1), sched, generator=torch.Generator().manual_seed(0), progress=False
    )
    var = 1.0
    for t in range(99, -1, -1):
        m2 = ac[t] * s_data**2 + 1 - ac[t]
        a_t = (
            sched.posterior_mean_coef1[t] * ac[t].sqrt() * s_data**2 / m2
            + sched.posterior_mean_coef2[t]
        )
        var = a_t.item() ** 2 * var + sched.posterior_variance[t].item()
    assert out.mean().item() == pytest.approx(0.0, abs=5 * math.sqrt(var / N))
    assert out.var().item() == pytest.approx(var, rel=0.05)  # 5 % ≈ 5 standard errors
    assert var < s_data**2  # fixed_small variance under-disperses a little (Ho et al. Sec. 3.2)


def test_sample_rejects_x_T_of_wrong_shape(schedule):
    with pytest.raises(ValueError, match=r"x_T must have shape \(2, 1, 3, 3\)"):
        ddpm_sample(lambda x, t: x, SHAPE, schedule, x_T=torch.zeros(1, 1, 3, 3), progress=False)
