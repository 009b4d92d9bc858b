"""DDIM timesteps, step and sampler (ldm_teach.diffusion.ddim)."""

import math

import pytest
import torch

from ldm_teach.diffusion.ddim import SPACINGS, ddim_sample, ddim_step, ddim_timesteps
from ldm_teach.diffusion.ddpm import ddpm_sample, ddpm_step
from ldm_teach.diffusion.forward import predict_x0_from_eps
from ldm_teach.diffusion.schedules import NoiseSchedule, ScheduleConfig

SHAPE = (2, 1, 3, 3)


@pytest.fixture(scope="module")
def schedule() -> NoiseSchedule:
    return NoiseSchedule(ScheduleConfig(num_train_timesteps=100, beta_end=0.1))


# ---- timesteps -------------------------------------------------------------------------


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("T", [1, 2, 7, 10, 64, 1000])
def test_timesteps_exactly_n_descending_in_range(spacing, T):
    for n in range(1, T + 1):
        ts = ddim_timesteps(n, T, spacing)
        assert ts.dtype == torch.int64
        assert ts.shape == (n,), (n, T)
        assert (ts[1:] < ts[:-1]).all(), (n, T)
        assert 0 <= int(ts.min()) and int(ts.max()) <= T - 1, (n, T)


def test_timesteps_pinned_values():
    assert ddim_timesteps(10, 1000, "leading", 1).tolist() == list(range(901, 0, -100))
    assert ddim_timesteps(10, 1000, "leading").tolist() == list(range(900, -1, -100))
    assert ddim_timesteps(10, 1000, "trailing").tolist() == list(range(999, 0, -100))
    assert ddim_timesteps(10, 1000, "linspace").tolist() == list(range(999, -1, -111))
    assert ddim_timesteps(3, 10, "trailing").tolist() == [9, 6, 2]  # round(10, 6.67, 3.33) - 1
    assert ddim_timesteps(1000, 1000, "trailing").tolist() == list(range(999, -1, -1))


@pytest.mark.parametrize(
    "args, match",
    [
        ((0, 1000), r"num_inference_steps must be an int in \[1, 1000\], got 0"),
        ((1001, 1000), "num_inference_steps"),
        ((10.0, 1000), "num_inference_steps"),
        ((10, 0), "num_train_timesteps"),
        ((10, 1000, "cosine"), "spacing must be one of"),
        ((10, 1000, "leading", -1), "steps_offset must be an int >= 0"),
        ((1000, 1000, "leading", 1), "steps_offset must be <= 0"),
        ((10, 1000, "leading", 100), "steps_offset must be <= 99"),
    ],
)
def test_timesteps_reject_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        ddim_timesteps(*args)


# ---- one step --------------------------------------------------------------------------


def test_step_eta0_matches_eq12_by_hand(schedule):
    g = torch.Generator().manual_seed(0)
    x_t, eps = (torch.randn(SHAPE, generator=g, dtype=torch.float64) for _ in range(2))
    t, t_prev = 60, 40
    a_t, a_prev = schedule.alphas_cumprod[t].item(), schedule.alphas_cumprod[t_prev].item()
    x0_hat = (x_t - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
    expected = math.sqrt(a_prev) * x0_hat + math.sqrt(1 - a_prev) * eps
    x_prev, pred_x0 = ddim_step(eps, t, t_prev, x_t, schedule, generator=g)
    torch.testing.assert_close(x_prev, expected)
    torch.testing.assert_close(pred_x0, x0_hat)


@pytest.mark.parametrize("t", [1, 30, 99])
def test_step_eta1_consecutive_is_the_ddpm_step(schedule, t):
    # Song et al. Sec. 4.1: η = 1 makes σ_t² the DDPM posterior variance β̃_t, and then the
    # DDIM update equals the DDPM posterior mean plus the same noise.
    g = torch.Generator().manual_seed(t)
    x_t, eps, z = (torch.randn(SHAPE, generator=g, dtype=torch.float64) for _ in range(3))
    x_prev, _ = ddim_step(eps, t, t - 1, x_t, schedule, eta=1.0, variance_noise=z)
    torch.testing.assert_close(x_prev, ddpm_step(eps, t, x_t, schedule, variance_noise=z))


def test_step_final_alpha_cumprod(schedule):
    x_t, eps = torch.randn(SHAPE, dtype=torch.float64), torch.randn(SHAPE, dtype=torch.float64)
    x0_hat = predict_x0_from_eps(x_t, torch.full((2,), 10), eps, schedule)
    # set_alpha_to_one=True: the final step returns x̂0
    x_prev, pred_x0 = ddim_step(eps, 10, -1, x_t, schedule)
    torch.testing.assert_close(x_prev, x0_hat)
    torch.testing.assert_close(pred_x0, x0_hat)
    # set_alpha_to_one=False at t = 0: ᾱ_prev = ᾱ_0 = ᾱ_t, the step is the identity
    a0 = schedule.alphas_cumprod[0].item()
    x_prev, _ = ddim_step(eps, 0, -1, x_t, schedule, eta=1.0, final_alpha_cumprod=a0)
    torch.testing.assert_close(x_prev, x_t)


def test_step_eta0_does_not_touch_the_generator(schedule):
    g = torch.Generator().manual_seed(5)
    state = g.get_state()
    ddim_step(torch.zeros(SHAPE), 50, 40, torch.ones(SHAPE), schedule, eta=0.0, generator=g)
    assert torch.equal(g.get_state(), state)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"t": 100}, r"t must be in \[0, 99\], got 100"),
        ({"t_prev": 50}, "t_prev must be < t=50"),
        ({"t_prev": 0.5}, "t_prev must be an integer"),
        ({"eta": -0.1}, r"eta must be in \[0, 1\]"),
        ({"eta": 1.5}, r"eta must be in \[0, 1\]"),
        ({"prediction_type": "v"}, "prediction_type must be one of"),
        ({"model_output": torch.zeros(1, 1, 3, 3)}, "model_output must have the same shape as x_t"),
        ({"final_alpha_cumprod": 0.0}, "final_alpha_cumprod"),
        (
            {"eta": 0.5, "variance_noise": torch.zeros(3)},
            "variance_noise must have the same shape as x_t",
        ),
    ],
)
def test_step_rejects_bad_input(schedule, kwargs, match):
    args = {
        "model_output": torch.zeros(SHAPE),
        "t": 50,
        "t_prev": 40,
        "x_t": torch.zeros(SHAPE),
        "schedule": schedule,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ddim_step(**args)


# ---- sampler ---------------------------------------------------------------------------


def test_sample_eta0_is_deterministic(schedule):
    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))

    def model_fn(x_t, t):
        return 0.3 * x_t + 0.001 * t.reshape(-1, 1, 1, 1)

    a = ddim_sample(
        model_fn,
        SHAPE,
        schedule,
        num_inference_steps=10,
        x_T=x_T,
        generator=torch.Generator().manual_seed(1),
        progress=False,
    )
    b = ddim_sample(
        model_fn,
        SHAPE,
        schedule,
        num_inference_steps=10,
        x_T=x_T,
        generator=torch.Generator().manual_seed(2),
        progress=False,
    )
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    c = ddim_sample(
        model_fn,
        SHAPE,
        schedule,
        num_inference_steps=10,
        eta=1.0,
        x_T=x_T,
        generator=torch.Generator().manual_seed(2),
        progress=False,
    )
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_sample_with_oracle_recovers_x0(schedule, spacing, prediction_type, eta, oracle):
    x0 = torch.linspace(-1, 1, 9, dtype=torch.float64).reshape(1, 1, 3, 3)
    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    out = ddim_sample(
        oracle(x0, schedule, prediction_type),
        SHAPE,
        schedule,
        num_inference_steps=7,
        eta=eta,
        spacing=spacing,
        prediction_type=prediction_type,
        x_T=x_T,
        generator=torch.Generator().manual_seed(4),
        progress=False,
    )
    torch.testing.assert_close(out, x0.expand(SHAPE), rtol=0, atol=1e-9)


def test_sample_gaussian_toy_matches_closed_form(schedule):
    # 1-D data x0 ~ N(0, s²); the exact eps-predictor is sqrt(1-ᾱ) x / m², m² = ᾱ s² + 1 - ᾱ.
    # Then one η = 0 step multiplies x by (sqrt(ᾱ_p ᾱ) s² + sqrt((1-ᾱ_p)(1-ᾱ))) / m².
    s_data, ac = 0.7, schedule.alphas_cumprod

    def model_fn(x_t, t):
        a = ac[t].reshape(-1, 1, 1, 1)
        return (1 - a).sqrt() * x_t / (a * s_data**2 + 1 - a)

    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = ddim_sample(
        model_fn,
        SHAPE,
        schedule,
        num_inference_steps=8,
        spacing="trailing",
        x_T=x_T,
        progress=False,
    )
    ts = ddim_timesteps(8, 100, "trailing").tolist()
    factor = 1.0
    for t, t_prev in zip(ts, ts[1:] + [-1], strict=True):
        a, a_p = ac[t].item(), (ac[t_prev].item() if t_prev >= 0 else 1.0)
        factor *= (math.sqrt(a_p * a) * s_data**2 + math.sqrt((1 - a_p) * (1 - a))) / (
            a * s_data**2 + 1 - a
        )
    torch.testing.assert_close(out, factor * x_T)


def test_sample_eta1_all_steps_equals_ddpm():
    # With η = 1 and every timestep visited, DDIM is DDPM; both draw the same noise in order.
    sched = NoiseSchedule(ScheduleConfig(num_train_timesteps=20, beta_end=0.2))
    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def model_fn(x_t, t):
        return torch.tanh(x_t) * (t.reshape(-1, 1, 1, 1) + 1) / 20

    ddim_out = ddim_sample(
        model_fn,
        SHAPE,
        sched,
        num_inference_steps=20,
        eta=1.0,
        x_T=x_T,
        generator=torch.Generator().manual_seed(1),
        progress=False,
    )
    ddpm_out = ddpm_sample(
        model_fn, SHAPE, sched, x_T=x_T, generator=torch.Generator().manual_seed(1), progress=False
    )
    torch.testing.assert_close(ddim_out, ddpm_out, rtol=0, atol=1e-10)


def test_sample_trajectory(schedule):
    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))
    out, traj = ddim_sample(
        lambda x, t: 0.5 * x,
        SHAPE,
        schedule,
        num_inference_steps=5,
        spacing="linspace",
        x_T=x_T,
        return_trajectory=True,
        progress=False,
    )
    assert [step["t"] for step in traj] == ddim_timesteps(5, 100, "linspace").tolist()
    assert set(traj[0]) == {"t", "x_t", "pred_x0"}
    torch.testing.assert_close(traj[0]["x_t"], x_T, rtol=0, atol=0)
    torch.testing.assert_close(out, traj[-1]["pred_x0"])  # set_alpha_to_one: last step returns x̂0
    assert out.dtype == torch.float32


def test_sample_visits_the_timesteps_and_keeps_dtype(schedule):
    seen = []

    def model_fn(x_t, t):
        seen.append(t.tolist())
        return torch.zeros_like(x_t)

    x_T = torch.randn(SHAPE, dtype=torch.float64)
    out = ddim_sample(
        model_fn, SHAPE, schedule, num_inference_steps=4, steps_offset=1, x_T=x_T, progress=False
    )
    assert seen == [[t, t] for t in (76, 51, 26, 1)]
    assert out.dtype == torch.float64


def test_sample_rejects_bad_arguments(schedule):
    with pytest.raises(ValueError, match="num_inference_steps"):
        ddim_sample(lambda x, t: x, SHAPE, schedule, num_inference_steps=101, progress=False)
    with pytest.raises(ValueError, match="x_T must have shape"):
        ddim_sample(lambda x, t: x, SHAPE, schedule, x_T=torch.zeros(3), progress=False)


def test_zero_terminal_snr_with_v_prediction_and_trailing_spacing(oracle):
    # Lin et al. 2023: with ᾱ_{T-1} = 0 sampling must start at T-1 ("trailing") and the network
    # must predict v (eps cannot give x0 where ᾱ = 0). The oracle then still recovers x0.
    sched = NoiseSchedule(ScheduleConfig(num_train_timesteps=100, rescale_betas_zero_snr=True))
    assert sched.alphas_cumprod[-1].item() == 0.0
    x0 = torch.linspace(-1, 1, 9, dtype=torch.float64).reshape(1, 1, 3, 3)
    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out, traj = ddim_sample(
        oracle(x0, sched, "v_prediction"),
        SHAPE,
        sched,
        num_inference_steps=5,
        spacing="trailing",
        prediction_type="v_prediction",
        x_T=x_T,
        return_trajectory=True,
        progress=False,
    )
    assert traj[0]["t"] == 99
    torch.testing.assert_close(traj[0]["pred_x0"], x0.expand(SHAPE))  # x̂0 exact even at SNR 0
    torch.testing.assert_close(out, x0.expand(SHAPE), rtol=0, atol=1e-9)


def test_zero_terminal_snr_with_eps_prediction_is_refused():
    # eps says nothing about x0 where ᾱ = 0; DDIM used to return -inf/NaN samples here
    sched = NoiseSchedule(ScheduleConfig(num_train_timesteps=100, rescale_betas_zero_snr=True))
    model_fn = lambda x, t: torch.tanh(x)  # noqa: E731
    match = r"x0 cannot be recovered from eps where alpha_bar_t = 0 \(t=99.*v_prediction"
    with pytest.raises(ValueError, match=match):
        ddim_sample(
            model_fn, SHAPE, sched, num_inference_steps=5, spacing="trailing", progress=False
        )
    with pytest.raises(ValueError, match=match):
        ddpm_sample(model_fn, SHAPE, sched, progress=False)
    # "leading" spacing never visits t = 99, so eps sampling stays possible (and finite)
    out = ddim_sample(
        model_fn,
        SHAPE,
        sched,
        num_inference_steps=5,
        progress=False,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.isfinite(out).all()
    # the same network read as v samples fine from t = 99
    out = ddim_sample(
        model_fn,
        SHAPE,
        sched,
        num_inference_steps=5,
        spacing="trailing",
        prediction_type="v_prediction",
        progress=False,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.isfinite(out).all()


def test_explicit_timesteps_and_after_step():
    """An explicit list equals the default schedule's; after_step replaces each sample."""
    import pytest

    from ldm_teach.diffusion import NoiseSchedule, ScheduleConfig, ddim_sample, ddim_timesteps

    schedule = NoiseSchedule(ScheduleConfig())
    model_fn = lambda x, t: 0.1 * x  # noqa: E731
    x_T = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    ts = ddim_timesteps(5, 1000).tolist()
    a = ddim_sample(
        model_fn, (2, 1, 4, 4), schedule, num_inference_steps=5, x_T=x_T, progress=False
    )
    b = ddim_sample(model_fn, (2, 1, 4, 4), schedule, timesteps=ts, x_T=x_T, progress=False)
    assert torch.equal(a, b)
    seen = []
    zero = ddim_sample(
        model_fn,
        (2, 1, 4, 4),
        schedule,
        timesteps=ts[2:],
        x_T=x_T,
        progress=False,
        after_step=lambda i, t_prev, x: seen.append((i, t_prev)) or torch.zeros_like(x),
    )
    assert torch.equal(zero, torch.zeros_like(x_T)) and seen == [(0, ts[3]), (1, ts[4]), (2, -1)]
    for bad in ([], [10, 10], [1000], [1, 5]):
        with pytest.raises(ValueError, match="strictly descending"):
            ddim_sample(model_fn, (2, 1, 4, 4), schedule, timesteps=bad, x_T=x_T, progress=False)
