"""The forward process and eps/x0/v conversions (ldm_teach.diffusion.forward)."""

import pytest
import torch

from ldm_teach.diffusion.forward import (
    extract,
    get_v,
    predict_eps_from_v,
    predict_eps_from_x0,
    predict_x0_and_eps,
    predict_x0_from_eps,
    predict_x0_from_v,
    q_posterior_mean_variance,
    q_sample,
)
from ldm_teach.diffusion.schedules import NoiseSchedule, ScheduleConfig


@pytest.fixture(scope="module")
def schedule() -> NoiseSchedule:
    return NoiseSchedule(ScheduleConfig())


def _batch(seed: int = 0, B: int = 6, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(B, 2, 3, 3, generator=g, dtype=dtype)
    eps = torch.randn(B, 2, 3, 3, generator=g, dtype=dtype)
    t = torch.tensor([0, 1, 250, 500, 998, 999][:B])
    return x0, eps, t


def test_extract_shape_dtype_and_values(schedule):
    t = torch.tensor([0, 10, 999])
    out = extract(schedule.alphas_cumprod, t, 4, torch.float32)
    assert out.shape == (3, 1, 1, 1) and out.dtype == torch.float32
    torch.testing.assert_close(out.flatten(), schedule.alphas_cumprod[t].float())
    assert extract(schedule.betas, t, 2).shape == (3, 1)
    assert extract(schedule.betas, t, 2).dtype == torch.float64


def test_q_sample_moments(schedule):
    # x_t | x0 ~ N(sqrt(ᾱ_t) x0, (1 - ᾱ_t) I)  (Ho et al. Eq. 4)
    N, t_val = 200_000, 300
    x0 = torch.tensor([-1.0, 0.5]).repeat(N // 2).reshape(N, 1, 1, 1)  # (N, 1, 1, 1)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    x_t = q_sample(x0, torch.full((N,), t_val), noise, schedule)
    ac = schedule.alphas_cumprod[t_val].item()
    for value in (-1.0, 0.5):
        sel = x_t[x0 == value]
        tol = 5 * (1 - ac) ** 0.5 / sel.numel() ** 0.5  # 5 standard errors
        assert sel.mean().item() == pytest.approx(ac**0.5 * value, abs=tol)
        assert sel.var().item() == pytest.approx(1 - ac, rel=0.02)


def test_q_sample_formula_per_sample_t_and_dtype(schedule):
    x0, eps, t = _batch()
    x_t = q_sample(x0, t, eps, schedule)
    ac = schedule.alphas_cumprod[t].reshape(-1, 1, 1, 1)
    torch.testing.assert_close(x_t, ac.sqrt() * x0 + (1 - ac).sqrt() * eps)
    for dtype in (torch.float32, torch.bfloat16):
        assert q_sample(x0.to(dtype), t, eps.to(dtype), schedule).dtype == dtype
    # at t = 0 almost all signal, at T-1 almost all noise
    assert (x_t[0] - x0[0]).abs().max() < 0.05
    assert (x_t[-1] - eps[-1]).abs().max() < 0.05


@pytest.mark.parametrize(
    "bad_t, match", [(1000, r"t must be in \[0, 999\], got 1000"), (-1, "got -1")]
)
def test_q_sample_rejects_out_of_range_t(schedule, bad_t, match):
    x0 = torch.zeros(2, 1, 2, 2)
    with pytest.raises(ValueError, match=match):
        q_sample(x0, torch.tensor([0, bad_t]), torch.zeros_like(x0), schedule)


def test_q_sample_rejects_bad_shapes_and_dtypes(schedule):
    x0 = torch.zeros(2, 1, 2, 2)
    with pytest.raises(ValueError, match="t must have shape"):
        q_sample(x0, torch.tensor([0, 1, 2]), torch.zeros_like(x0), schedule)
    with pytest.raises(ValueError, match="t must have shape"):
        q_sample(x0, torch.tensor([[0, 1]]), torch.zeros_like(x0), schedule)
    with pytest.raises(ValueError, match="t must be an integer tensor"):
        q_sample(x0, torch.tensor([0.0, 1.0]), torch.zeros_like(x0), schedule)
    with pytest.raises(ValueError, match="noise must have the same shape"):
        q_sample(x0, torch.tensor([0, 1]), torch.zeros(2, 1, 2, 3), schedule)


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool])
def test_q_sample_refuses_non_float_x0_and_noise(schedule, dtype):
    # integer x0 used to give x_t = 0: the coefficients were cast to the integer dtype
    t, x0 = torch.tensor([1, 500]), torch.ones(2, 1, 2, 2)
    with pytest.raises(ValueError, match=f"x0 must be a floating-point tensor.*{dtype}"):
        q_sample(x0.to(dtype), t, torch.randn_like(x0), schedule)
    with pytest.raises(ValueError, match=f"noise must be a floating-point tensor.*{dtype}"):
        q_sample(x0, t, x0.to(dtype), schedule)
    with pytest.raises(ValueError, match="x_t must be a floating-point tensor"):
        predict_x0_from_v(x0.to(dtype), t, x0, schedule)
    # a float noise of another float dtype is still accepted and cast to x0's dtype
    assert q_sample(x0, t, torch.randn(2, 1, 2, 2, dtype=torch.float64), schedule).dtype == (
        torch.float32
    )


def test_conversions_are_exact_inverses(schedule):
    x0, eps, t = _batch()
    x_t = q_sample(x0, t, eps, schedule)
    v = get_v(x0, eps, t, schedule)
    torch.testing.assert_close(predict_x0_from_eps(x_t, t, eps, schedule), x0, rtol=0, atol=1e-10)
    torch.testing.assert_close(predict_eps_from_x0(x_t, t, x0, schedule), eps, rtol=0, atol=1e-10)
    torch.testing.assert_close(predict_x0_from_v(x_t, t, v, schedule), x0, rtol=0, atol=1e-12)
    torch.testing.assert_close(predict_eps_from_v(x_t, t, v, schedule), eps, rtol=0, atol=1e-12)
    for kind, out in (("epsilon", eps), ("sample", x0), ("v_prediction", v)):
        got_x0, got_eps = predict_x0_and_eps(out, x_t, t, schedule, kind)
        torch.testing.assert_close(got_x0, x0, rtol=0, atol=1e-10)
        torch.testing.assert_close(got_eps, eps, rtol=0, atol=1e-10)


def test_v_is_a_rotation_of_x0_and_eps(schedule):
    # with φ_t = atan(sqrt(1-ᾱ)/sqrt(ᾱ)): x_t = cos φ x0 + sin φ eps, v = cos φ eps - sin φ x0,
    # so |x_t|² + |v|² = |x0|² + |eps|²  (Salimans & Ho 2022, Sec. 4)
    x0, eps, t = _batch(1)
    x_t, v = q_sample(x0, t, eps, schedule), get_v(x0, eps, t, schedule)
    lhs = (x_t**2 + v**2).sum(dim=(1, 2, 3))
    torch.testing.assert_close(lhs, (x0**2 + eps**2).sum(dim=(1, 2, 3)))


def test_predict_eps_from_x0_is_finite_at_zero_terminal_snr():
    s = NoiseSchedule(ScheduleConfig(num_train_timesteps=10, rescale_betas_zero_snr=True))
    x_t, x0 = (
        torch.randn(1, 1, 2, 2, dtype=torch.float64),
        torch.randn(1, 1, 2, 2, dtype=torch.float64),
    )
    torch.testing.assert_close(predict_eps_from_x0(x_t, torch.tensor([9]), x0, s), x_t)  # ᾱ = 0


def test_x0_from_eps_is_refused_where_alpha_bar_is_zero_but_v_works():
    # ᾱ_{T-1} = 0: x0 = (x_t - eps) / 0 used to come back as inf/NaN
    s = NoiseSchedule(ScheduleConfig(num_train_timesteps=10, rescale_betas_zero_snr=True))
    x_t, out = torch.randn(2, 1, 2, 2), torch.randn(2, 1, 2, 2)
    t = torch.tensor([3, 9])
    match = r"x0 cannot be recovered from eps where alpha_bar_t = 0 \(t=9.*v_prediction"
    with pytest.raises(ValueError, match=match):
        predict_x0_from_eps(x_t, t, out, s)
    with pytest.raises(ValueError, match=match):
        predict_x0_and_eps(out, x_t, t, s, "epsilon")
    # v determines x0 at SNR 0: x0 = -v there, eps = x_t
    x0, eps = predict_x0_and_eps(out, x_t, t, s, "v_prediction")
    assert torch.isfinite(x0).all() and torch.isfinite(eps).all()
    torch.testing.assert_close(x0[1], -out[1])
    torch.testing.assert_close(eps[1], x_t[1])
    # away from ᾱ = 0 eps still works
    assert torch.isfinite(predict_x0_from_eps(x_t, torch.tensor([3, 8]), out, s)).all()


def test_predict_x0_and_eps_rejects_unknown_type(schedule):
    x = torch.zeros(1, 1, 2, 2)
    with pytest.raises(ValueError, match="prediction_type must be one of"):
        predict_x0_and_eps(x, x, torch.tensor([3]), schedule, "v")


def test_q_posterior_matches_gaussian_conditioning(schedule):
    # Independent derivation: x_{t-1} = sqrt(ᾱ_{t-1}) x0 + sqrt(1-ᾱ_{t-1}) e1,
    # x_t = sqrt(α_t) x_{t-1} + sqrt(β_t) e2. Condition the Gaussian (x_{t-1}, x_t) on x_t:
    # mean = sqrt(ᾱ_{t-1}) x0 + c/(1-ᾱ_t) (x_t - sqrt(ᾱ_t) x0), var = (1-ᾱ_{t-1}) - c²/(1-ᾱ_t),
    # with c = Cov(x_{t-1}, x_t) = sqrt(α_t) (1-ᾱ_{t-1}).
    x0, x_t, t = _batch(2)
    mean, var, log_var = q_posterior_mean_variance(x0, x_t, t, schedule)
    ac = schedule.alphas_cumprod[t].reshape(-1, 1, 1, 1)
    ac_prev = schedule.alphas_cumprod_prev[t].reshape(-1, 1, 1, 1)
    alpha = schedule.alphas[t].reshape(-1, 1, 1, 1)
    c = alpha.sqrt() * (1 - ac_prev)
    torch.testing.assert_close(mean, ac_prev.sqrt() * x0 + c / (1 - ac) * (x_t - ac.sqrt() * x0))
    torch.testing.assert_close(var, (1 - ac_prev) - c**2 / (1 - ac), rtol=1e-9, atol=1e-15)
    assert var.shape == log_var.shape == (6, 1, 1, 1)
    torch.testing.assert_close(mean[0], x0[0])  # t = 0: the posterior is a point mass at x0
    assert var[0].item() == 0.0
    torch.testing.assert_close(log_var[1:], var[1:].log())


def test_q_sample_timestep_dtypes_and_shapes():
    # uint8 t used to be read as a boolean mask (ᾱ_0..3 instead of ᾱ_1); int8 a raw IndexError
    s = NoiseSchedule(ScheduleConfig(num_train_timesteps=4))
    x0, noise = torch.ones(4, 1, 1, 1), torch.zeros(4, 1, 1, 1)
    with pytest.raises(ValueError, match="t must be an integer tensor.*boolean mask.*uint8"):
        q_sample(x0, torch.ones(4, dtype=torch.uint8), noise, s)
    expected = s.sqrt_alphas_cumprod[1].float().expand(4)
    for dtype in (torch.int8, torch.int16, torch.int32):
        got = q_sample(x0, torch.ones(4, dtype=dtype), noise, s).flatten()
        torch.testing.assert_close(got, expected)
    with pytest.raises(ValueError, match="t must have shape"):
        q_sample(x0, torch.tensor(1), noise, s)  # 0-d
    with pytest.raises(ValueError, match=r"t must have shape \(4,\)"):
        q_sample(x0, torch.tensor([1]), noise, s)


def test_extract_names_timesteps_out_of_range():
    # found by the third bad-input pass: extract(a, t=5000) raised a bare IndexError
    from ldm_teach.diffusion.forward import extract

    a = torch.linspace(0, 1, 10, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        extract(a, torch.tensor([5000]), 4)
    assert extract(a, torch.tensor([9]), 4).shape == (1, 1, 1, 1)
