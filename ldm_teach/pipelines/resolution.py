"""Sampling a text-to-image model at a size it was not trained on, with the noise schedule
shifted for resolution (course Sec. 10.5.1).

At a fixed ᾱ_t, a larger image is "less noisy": averaging it over s x s pixels divides the
noise variance by s² but keeps the signal, so the coarse layout is already decided at
timesteps where, at the training size, it was still open. Hoogeboom et al. 2023 ("simple
diffusion", arXiv:2301.11093, Sec. 3.1) keep the behaviour of the base resolution by
shifting the log-SNR (``ldm_teach.diffusion.shift``):

    snr_scale = (H_base W_base) / (H W)             = (base / d)² for square images
    λ'(t)     = λ(t) + log snr_scale                 λ = log SNR = log(ᾱ / (1 - ᾱ))

A network trained at the base size knows only λ(t), the SNR of its training timestep t.
Sampling with the shifted curve therefore means evaluating it at the training timestep
whose SNR is the shifted one (SD3's inference shift does the same in σ, Esser et al. 2024,
arXiv:2403.03206, Sec. 5.3.2, σ' = s σ / (1 + (s - 1) σ) with s = 1 / sqrt(snr_scale)):

    t'_i = argmin_τ | λ(τ) - λ'(t_i) |              for each sampling timestep t_i

With snr_scale < 1 (larger images) every t'_i >= t_i: the sampler spends its steps at
higher noise, where the layout of the larger canvas is formed. Repeats (several t_i
mapped to T - 1) are dropped, so a shifted run may have fewer steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ldm_teach.argcheck import check_bool, check_int, check_real
from ldm_teach.diffusion import NoiseSchedule
from ldm_teach.diffusion.shift import resolution_snr_scale, shifted_schedule
from ldm_teach.pipelines.text_to_image import TextToImage


def pixel_count_snr_scale(height: int, width: int, base_height: int, base_width: int) -> float:
    """SNR factor (H_base W_base) / (H W) of a size against the training size.

    For square sizes it is ``resolution_snr_scale(d, base)`` = (base / d)² (Hoogeboom et
    al. 2023, Sec. 3.1); for others, the ratio of pixel counts (the noise variance of a
    pooled image falls with the number of pixels pooled).

    Raises:
        ValueError: if an argument is not an int >= 1 (naming it).
    """
    height, width = check_int(height, "height", lo=1), check_int(width, "width", lo=1)
    base_height = check_int(base_height, "base_height", lo=1)
    base_width = check_int(base_width, "base_width", lo=1)
    if height == width and base_height == base_width:
        return resolution_snr_scale(height, base_height)
    return (base_height * base_width) / (height * width)


def shifted_timesteps(
    schedule: NoiseSchedule, timesteps: Sequence[int] | Tensor, snr_scale: float
) -> list[int]:
    """The training timesteps whose SNR is ``snr_scale`` times that of ``timesteps``.

    Args:
        schedule: the schedule the model was trained with (T steps).
        timesteps: strictly descending ints in [0, T - 1] (e.g. ``model.timesteps(25)``).
        snr_scale: positive finite factor on the SNR; 1 returns the same timesteps.
    Returns:
        Strictly descending Python ints in [0, T - 1], t'_i = argmin_τ |λ(τ) - λ'(t_i)| with
        λ' the log-SNR of ``shifted_schedule(schedule, snr_scale)`` (module docstring);
        repeats are dropped.
    Raises:
        ValueError: if timesteps is empty, not strictly descending ints in [0, T - 1], or
            snr_scale is not a positive finite number.
    """
    T = schedule.num_train_timesteps
    ts = timesteps.tolist() if isinstance(timesteps, Tensor) else list(timesteps)
    if (
        not ts
        or not all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < T for t in ts)
        or any(a <= b for a, b in zip(ts, ts[1:], strict=False))
    ):
        raise ValueError(
            f"timesteps must be strictly descending ints in [0, {T - 1}], got {ts!r:.100}"
        )
    snr_scale = check_real(snr_scale, "snr_scale", lo=0.0, lo_open=True)
    if snr_scale == 1.0:
        return ts
    every = torch.arange(T)
    log_snr = schedule.log_snr(every)  # (T,) float64, decreasing in τ
    target = shifted_schedule(schedule, snr_scale).log_snr(torch.tensor(ts))  # (n,)
    mapped = (log_snr[None, :] - target[:, None]).abs().argmin(dim=1).tolist()  # (n,)
    out: list[int] = []
    for t in mapped:
        if not out or t < out[-1]:
            out.append(t)
    return out


@torch.no_grad()
def sample_at_resolution(
    model: TextToImage,
    prompts: str | Sequence[str],
    *,
    height: int,
    width: int,
    shift: bool = True,
    num_inference_steps: int = 25,
    spacing: str | None = None,
    **sample_kwargs,
) -> Tensor | tuple[Tensor, Tensor]:
    """``model.sample`` at height x width, with the resolution-shifted timesteps.

    Args:
        model: a :class:`~ldm_teach.pipelines.TextToImage` trained at ``model.image_size``.
        prompts: a caption or a list of captions.
        height, width: output size in pixels, each divisible by f.
        shift: shift the schedule by :func:`pixel_count_snr_scale` (False: the model's own
            timesteps, the unshifted baseline at the same size).
        num_inference_steps, spacing: the run before shifting (``model.timesteps``).
        sample_kwargs: passed to ``model.sample`` (guidance_scale, generator, eta, ...; not
            ``timesteps``, ``image_size``, ``height`` or ``width``).
    Returns:
        As ``model.sample``: images (B, 3, height, width) in [-1, 1] float32.
    Raises:
        ValueError: on a bad size or flag, or a keyword this function sets itself (and as
            ``model.sample``).
    """
    taken = {"timesteps", "image_size", "height", "width"} & set(sample_kwargs)
    if taken:
        raise ValueError(f"sample_at_resolution sets {sorted(taken)} itself; do not pass them")
    model.latent_shape(height=height, width=width)  # checks the size (ValueError)
    timesteps = model.timesteps(num_inference_steps, spacing)
    if check_bool(shift, "shift"):
        base = model.image_size
        scale = pixel_count_snr_scale(height, width, base, base)
        if not math.isclose(scale, 1.0):
            timesteps = shifted_timesteps(model.schedule, timesteps, scale)
    return model.sample(prompts, height=height, width=width, timesteps=timesteps, **sample_kwargs)
