"""DDPM ancestral sampler (Ho et al. 2020, arXiv:2006.11239), Algorithm 2 with Eq. 6-7 and 15.

One reverse step from x_t to x_{t-1}:

    1. x̂0 from the network output (Eq. 15 for eps; Salimans & Ho 2022 for v)
    2. optionally clip x̂0 to [-c, c]
    3. μ̃_t = coef1 · x̂0 + coef2 · x_t                        (Eq. 7)
    4. x_{t-1} = μ̃_t + sqrt(β̃_t) z,  z ~ N(0, I), no noise at t = 0   (Eq. 6, Algorithm 2)

The variance is β̃_t, the posterior variance ("fixed_small" in diffusers, the default of its
``DDPMScheduler``); Ho et al. report that σ_t² = β_t works about as well.

Variable names: ``alphas_cumprod`` -> ᾱ, ``posterior_variance`` -> β̃, ``pred_x0`` -> x̂0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ldm_teach.argcheck import check_bool
from ldm_teach.diffusion.forward import (
    as_timestep,
    check_same_shape,
    gaussian_noise,
    predict_x0_and_eps,
    q_posterior_mean_variance,
)
from ldm_teach.diffusion.sampling import ModelFn, check_clip_sample, initial_noise
from ldm_teach.diffusion.schedules import NoiseSchedule


def ddpm_step(
    model_output: Tensor,
    t: int,
    x_t: Tensor,
    schedule: NoiseSchedule,
    prediction_type: str = "epsilon",
    generator: torch.Generator | None = None,
    clip_sample: float | None = None,
    variance_noise: Tensor | None = None,
) -> Tensor:
    """One DDPM reverse step x_t -> x_{t-1} (Ho et al. 2020, Algorithm 2, Eq. 6-7).

    Args:
        model_output: (B, C, H, W) network output at (x_t, t): eps, x0 or v (see prediction_type).
        t: the current timestep, an int in [0, T-1].
        x_t: (B, C, H, W) current sample, any float dtype.
        schedule: the noise schedule the network was trained with.
        prediction_type: "epsilon", "sample" (x0) or "v_prediction".
        generator: seeds the noise z, drawn like diffusers' ``randn_tensor`` (on the
            generator's device, in model_output's dtype), so a seeded run is reproducible
            and matches diffusers' ``DDPMScheduler.step`` with an identically seeded generator.
        clip_sample: if set, clip x̂0 to [-clip_sample, clip_sample] (diffusers' clip_sample_range).
        variance_noise: the noise z itself, (B, C, H, W); overrides ``generator``.
    Returns:
        x_{t-1}, same shape and dtype as x_t. At t = 0 it is the posterior mean, with no noise.
    Raises:
        ValueError: if t is out of range, shapes disagree, or an argument is invalid.
    """
    T = schedule.num_train_timesteps
    t = as_timestep(t, T)
    check_clip_sample(clip_sample)
    check_same_shape("x_t", x_t, "model_output", model_output)
    t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)  # (B,)

    # 1. predicted x0, Eq. 15
    pred_x0, _ = predict_x0_and_eps(model_output, x_t, t_batch, schedule, prediction_type)
    # 2. clip x̂0 to the data range
    if clip_sample is not None:
        pred_x0 = pred_x0.clamp(-clip_sample, clip_sample)
    # 3. posterior mean μ̃_t(x_t, x̂0), Eq. 7
    mean, _, _ = q_posterior_mean_variance(pred_x0, x_t, t_batch, schedule)
    if t == 0:
        return mean
    # 4. add noise with variance β̃_t (sqrt taken in float64), Eq. 6
    std = math.sqrt(float(schedule.posterior_variance[t]))
    if variance_noise is None:
        variance_noise = gaussian_noise(
            tuple(x_t.shape), generator, device=x_t.device, dtype=model_output.dtype
        )
    else:
        check_same_shape("x_t", x_t, "variance_noise", variance_noise)
    return mean + std * variance_noise.to(device=x_t.device, dtype=x_t.dtype)


@torch.no_grad()
def ddpm_sample(
    model_fn: ModelFn,
    shape: tuple[int, ...],
    schedule: NoiseSchedule,
    *,
    prediction_type: str = "epsilon",
    generator: torch.Generator | None = None,
    x_T: Tensor | None = None,
    clip_sample: float | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
) -> Tensor:
    """Draw samples with all T ancestral steps (Ho et al. 2020, Algorithm 2).

    Args:
        model_fn: (x_t (B, C, H, W), t (B,) int64) -> model output of x_t's shape.
        shape: (B, C, H, W) of the samples.
        schedule: the training noise schedule.
        prediction_type: what model_fn predicts: "epsilon", "sample" or "v_prediction".
        generator: seeds x_T (if not given) and every step's noise.
        x_T: the starting noise, of ``shape``; its dtype sets the sampling dtype.
            Default: float32 N(0, I) drawn with ``generator``.
        clip_sample: clip x̂0 to [-clip_sample, clip_sample] at every step (None: no clipping).
        progress: show a tqdm progress bar.
        device: where to sample; default x_T's device, else the CPU.
    Returns:
        x0 samples, (B, C, H, W), in x_T's dtype.
    Raises:
        ValueError: if x_T does not have ``shape`` or another argument is invalid, or with
            prediction_type="epsilon" on a schedule with ᾱ_{T-1} = 0 (zero terminal SNR):
            x0 cannot be recovered from eps there; use a v-prediction model.
    """
    x = initial_noise(shape, x_T, generator, device)
    B = x.shape[0]
    progress = check_bool(progress, "progress")
    for t in tqdm(
        range(schedule.num_train_timesteps - 1, -1, -1), disable=not progress, desc="DDPM"
    ):
        t_batch = torch.full((B,), t, dtype=torch.long, device=x.device)  # (B,)
        model_output = model_fn(x, t_batch)
        x = ddpm_step(
            model_output,
            t,
            x,
            schedule,
            prediction_type,
            generator=generator,
            clip_sample=clip_sample,
        )
    return x
