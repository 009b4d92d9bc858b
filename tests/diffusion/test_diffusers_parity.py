"""Parity with diffusers' DDPMScheduler and DDIMScheduler (the reference implementation).

How the comparison is set up, and why:

- diffusers stores its schedule in float32; ours is float64. The schedule itself is compared
  directly (betas and ᾱ to 1e-6, i.e. float32 precision).
- For the *update rules* (``step``), float32 rounding of ᾱ would dominate the difference
  (1/sqrt(ᾱ_t) reaches ~150), so we hand diffusers our float64 ᾱ (its ``alphas_cumprod`` and
  ``final_alpha_cumprod`` attributes, the only schedule tensors its ``step`` reads) and feed
  float64 inputs. The 1e-6 tolerance then measures the formulas, not float32.
- Noise: diffusers draws the step noise with ``randn_tensor(shape, generator, device,
  dtype=model_output.dtype)``, which for a CPU generator is ``torch.randn(shape,
  generator=generator, dtype=...)``; our samplers draw it the same way. We therefore seed two
  generators identically, one for each side. DDIM additionally takes ``variance_noise``, so
  its step is also compared with one explicit noise tensor passed to both, which does not
  depend on how either side draws. For DDPM, whose diffusers ``step`` takes no noise
  argument, we also redraw diffusers' noise from the same seed and pass it to our step as
  ``variance_noise``: that checks the deterministic part (the posterior mean) on its own.
"""

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from ldm_teach.diffusion.ddim import ddim_sample, ddim_step, ddim_timesteps  # noqa: E402
from ldm_teach.diffusion.ddpm import ddpm_sample, ddpm_step  # noqa: E402
from ldm_teach.diffusion.forward import get_v, q_sample  # noqa: E402
from ldm_teach.diffusion.schedules import NoiseSchedule, ScheduleConfig  # noqa: E402

DIFFUSERS_NAME = {
    "linear": "linear",
    "scaled_linear": "scaled_linear",
    "cosine": "squaredcos_cap_v2",
    "sigmoid": "sigmoid",
}
SD = {"beta_start": 0.00085, "beta_end": 0.012}
SHAPE = (2, 3, 4, 4)
ATOL = 1e-6


def _configs(name: str, T: int = 1000, rescale: bool = False, **kw):
    betas = SD if name == "scaled_linear" else {}
    ours = ScheduleConfig(
        num_train_timesteps=T, beta_schedule=name, rescale_betas_zero_snr=rescale, **betas
    )
    theirs = {
        "num_train_timesteps": T,
        "beta_schedule": DIFFUSERS_NAME[name],
        "beta_start": ours.beta_start,
        "beta_end": ours.beta_end,
        "rescale_betas_zero_snr": rescale,
        "clip_sample": False,
        **kw,
    }
    return NoiseSchedule(ours), theirs


def _use_float64_schedule(scheduler, schedule: NoiseSchedule, set_alpha_to_one: bool = True):
    scheduler.alphas_cumprod = schedule.alphas_cumprod.clone()
    if hasattr(scheduler, "final_alpha_cumprod"):
        scheduler.final_alpha_cumprod = (
            torch.tensor(1.0, dtype=torch.float64)
            if set_alpha_to_one
            else schedule.alphas_cumprod[0]
        )
    return scheduler


def _randn(seed: int, shape=SHAPE):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---- schedules and the forward process ---------------------------------------------------


@pytest.mark.parametrize("rescale", [False, True])
@pytest.mark.parametrize("name", ["linear", "scaled_linear", "cosine", "sigmoid"])
def test_schedule_matches(name, rescale):
    ours, cfg = _configs(name, rescale=rescale)
    classes = [diffusers.DDPMScheduler] + ([diffusers.DDIMScheduler] if name != "sigmoid" else [])
    # after rescaling, the last betas are ratios of ᾱ values near 1e-5, where float32 keeps
    # only a few significant digits: compare those relatively (the float64 test below is exact)
    rtol = 1e-4 if rescale else 0.0
    for cls in classes:
        ref = cls(**cfg)
        torch.testing.assert_close(ours.betas, ref.betas.double(), rtol=rtol, atol=ATOL)
        torch.testing.assert_close(
            ours.alphas_cumprod, ref.alphas_cumprod.double(), rtol=0, atol=ATOL
        )


@pytest.mark.parametrize("name", ["linear", "scaled_linear", "cosine"])
def test_rescale_zero_terminal_snr_matches_in_float64(name):
    # the same definition: diffusers' own function applied to our float64 betas
    from diffusers.schedulers.scheduling_ddim import rescale_zero_terminal_snr

    base, _ = _configs(name)
    ours, _ = _configs(name, rescale=True)
    torch.testing.assert_close(
        ours.betas, rescale_zero_terminal_snr(base.betas), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("name", ["linear", "scaled_linear", "cosine"])
def test_add_noise_and_velocity_match(name):
    ours, cfg = _configs(name)
    # float32 ᾱ_0 = 0.9999 is off by ~6e-8, so sqrt(1 - ᾱ_0) would differ by ~3e-4 relative:
    # hand diffusers our float64 ᾱ to compare the formula (the schedule is compared above)
    ref = _use_float64_schedule(diffusers.DDPMScheduler(**cfg), ours)
    x0, noise = _randn(0), _randn(1)
    t = torch.tensor([0, 999])
    torch.testing.assert_close(
        q_sample(x0, t, noise, ours), ref.add_noise(x0, noise, t), rtol=0, atol=ATOL
    )
    torch.testing.assert_close(
        get_v(x0, noise, t, ours), ref.get_velocity(x0, noise, t), rtol=0, atol=ATOL
    )


# ---- DDIM ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_ddim_timesteps_match(spacing):
    offset = 1 if spacing == "leading" else 0
    # 48, 96: "trailing" rounds exact halves (937.5) as numpy's float arange leaves them;
    # 61, 103, 121: diffusers' arange returns n+1 values, the last being timestep -1
    ns = [1, 2, 3, 7, 10, 20, 25, 48, 50, 61, 96, 100, 103, 121, 250, 333, 500, 999]
    ns += [] if offset else [1000]
    ref = diffusers.DDIMScheduler(timestep_spacing=spacing, steps_offset=offset)
    for n in ns:
        ref.set_timesteps(n)
        expected = ref.timesteps.tolist()
        if len(expected) == n + 1:  # the diffusers quirk above: drop its out-of-range -1
            assert spacing == "trailing" and expected[-1] == -1, n
            expected = expected[:n]
        assert ddim_timesteps(n, 1000, spacing, steps_offset=offset).tolist() == expected, n


@pytest.mark.parametrize("name", ["linear", "scaled_linear", "cosine"])
@pytest.mark.parametrize("set_alpha_to_one", [True, False])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_ddim_step_matches(prediction_type, eta, set_alpha_to_one, name):
    n = 10
    ours, cfg = _configs(
        name,
        prediction_type=prediction_type,
        set_alpha_to_one=set_alpha_to_one,
        steps_offset=1,
    )
    ref = _use_float64_schedule(diffusers.DDIMScheduler(**cfg), ours, set_alpha_to_one)
    ref.set_timesteps(n)
    final = 1.0 if set_alpha_to_one else ours.alphas_cumprod[0].item()
    x_t = _randn(0)
    for i, t in enumerate(ref.timesteps.tolist()):  # 901, 801, ..., 1; the last is the final step
        model_output, z = _randn(100 + i), _randn(200 + i)
        t_prev = t - 1000 // n  # diffusers' rule; negative on the final step
        expected = ref.step(model_output, t, x_t, eta=eta, variance_noise=z)
        x_prev, pred_x0 = ddim_step(
            model_output,
            t,
            t_prev,
            x_t,
            ours,
            eta=eta,
            prediction_type=prediction_type,
            variance_noise=z,
            final_alpha_cumprod=final,
        )
        torch.testing.assert_close(pred_x0, expected.pred_original_sample, rtol=0, atol=ATOL)
        torch.testing.assert_close(x_prev, expected.prev_sample, rtol=0, atol=ATOL)
        x_t = x_prev


def test_ddim_step_with_clipping_matches():
    ours, cfg = _configs("linear", clip_sample=True, clip_sample_range=1.0)
    ref = _use_float64_schedule(diffusers.DDIMScheduler(**cfg), ours)
    ref.set_timesteps(20)
    x_t, model_output = 3 * _randn(0), _randn(1)
    expected = ref.step(model_output, 500, x_t, eta=0.0)
    x_prev, pred_x0 = ddim_step(model_output, 500, 450, x_t, ours, clip_sample=1.0)
    assert pred_x0.abs().max() <= 1.0
    torch.testing.assert_close(pred_x0, expected.pred_original_sample, rtol=0, atol=ATOL)
    torch.testing.assert_close(x_prev, expected.prev_sample, rtol=0, atol=ATOL)


@pytest.mark.parametrize(
    "spacing, name, rescale, prediction_type",
    [
        ("leading", "scaled_linear", False, "epsilon"),
        ("trailing", "scaled_linear", False, "epsilon"),
        ("leading", "linear", False, "sample"),
        ("trailing", "cosine", False, "epsilon"),
        # zero terminal SNR with v-prediction and trailing spacing (Lin et al. 2023, Sec. 3)
        ("trailing", "scaled_linear", True, "v_prediction"),
    ],
)
def test_ddim_sampling_loop_matches(spacing, name, rescale, prediction_type):
    # A whole loop, eta = 0.5, each side with its own identically seeded generator.
    ours, cfg = _configs(
        name,
        rescale=rescale,
        timestep_spacing=spacing,
        steps_offset=1,
        prediction_type=prediction_type,
    )
    ref = _use_float64_schedule(diffusers.DDIMScheduler(**cfg), ours)
    ref.set_timesteps(10)

    def model_fn(x, t):
        return torch.sin(x) + 1e-3 * torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1, 1, 1)

    x = x_T = _randn(0)
    g = torch.Generator().manual_seed(1)
    for t in ref.timesteps:
        x = ref.step(model_fn(x, t.repeat(2)), t, x, eta=0.5, generator=g).prev_sample
    out = ddim_sample(
        model_fn,
        SHAPE,
        ours,
        num_inference_steps=10,
        eta=0.5,
        spacing=spacing,
        steps_offset=1,
        prediction_type=prediction_type,
        x_T=x_T,
        generator=torch.Generator().manual_seed(1),
        progress=False,
    )
    torch.testing.assert_close(out, x, rtol=0, atol=ATOL)


def test_ddim_native_float32_agrees_to_float32_precision():
    # No float64 hand-over here: diffusers as users run it, float32 in and out.
    ours, cfg = _configs("scaled_linear", steps_offset=1)
    ref = diffusers.DDIMScheduler(**cfg)
    ref.set_timesteps(25)
    x_t, model_output = _randn(0).float(), _randn(1).float()
    expected = ref.step(model_output, 441, x_t, eta=0.0)
    x_prev, pred_x0 = ddim_step(model_output, 441, 401, x_t, ours)
    assert x_prev.dtype == torch.float32
    torch.testing.assert_close(x_prev, expected.prev_sample, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(pred_x0, expected.pred_original_sample, rtol=1e-4, atol=1e-4)


# ---- DDPM ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["linear", "scaled_linear", "cosine"])
@pytest.mark.parametrize("clip", [None, 1.0])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_ddpm_step_matches(prediction_type, clip, name):
    ours, cfg = _configs(
        name,
        prediction_type=prediction_type,
        variance_type="fixed_small",
        clip_sample=clip is not None,
        clip_sample_range=clip or 1.0,
    )
    ref = _use_float64_schedule(diffusers.DDPMScheduler(**cfg), ours)
    x_t = 2 * _randn(0)
    for i, t in enumerate([999, 500, 37, 1, 0]):
        model_output, seed = _randn(100 + i), 300 + i
        expected = ref.step(model_output, t, x_t, generator=torch.Generator().manual_seed(seed))
        # (a) identically seeded generators
        out = ddpm_step(
            model_output,
            t,
            x_t,
            ours,
            prediction_type,
            generator=torch.Generator().manual_seed(seed),
            clip_sample=clip,
        )
        torch.testing.assert_close(out, expected.prev_sample, rtol=0, atol=ATOL)
        # (b) diffusers' noise redrawn from its seed and handed to us explicitly
        z = _randn(seed)
        out = ddpm_step(
            model_output, t, x_t, ours, prediction_type, clip_sample=clip, variance_noise=z
        )
        torch.testing.assert_close(out, expected.prev_sample, rtol=0, atol=ATOL)


def test_ddpm_sampling_loop_matches():
    ours, cfg = _configs("linear", T=50, variance_type="fixed_small")
    ref = _use_float64_schedule(diffusers.DDPMScheduler(**cfg), ours)

    def model_fn(x, t):
        return 0.5 * torch.tanh(x) + 1e-2 * torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1, 1, 1)

    x = x_T = _randn(0)
    g = torch.Generator().manual_seed(1)
    for t in ref.timesteps:  # 49, ..., 0
        x = ref.step(model_fn(x, t.repeat(2)), t, x, generator=g).prev_sample
    out = ddpm_sample(
        model_fn, SHAPE, ours, x_T=x_T, generator=torch.Generator().manual_seed(1), progress=False
    )
    torch.testing.assert_close(out, x, rtol=0, atol=ATOL)
