"""Adapting a noise schedule to latent space by shifting its log-SNR (course Sec. 10.3.2).

A schedule is fixed by its log signal-to-noise ratio λ(t) = log SNR(t) = log(ᾱ_t / (1 - ᾱ_t))
(Kingma et al. 2021, arXiv:2107.00630, Eq. 1). Two things change the SNR the network really
sees, without any change to the betas:

- Resolution. Averaging a noisy image over s x s pixels divides the noise variance by s²
  but keeps the signal, so a larger image is "less noisy" at the same ᾱ_t. Hoogeboom et al.
  2023 ("simple diffusion", arXiv:2301.11093, Sec. 3.1) keep the low-resolution behaviour
  by shifting the log-SNR: λ_d(t) = λ_base(t) + 2 log(base / d) for resolution d.
- Data scale. For data of std σ, x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) eps has signal
  variance σ² ᾱ_t and noise variance 1 - ᾱ_t, so the effective SNR is σ² ᾱ_t / (1 - ᾱ_t).
  Unnormalised latents (no ``scale_factor``) of std σ therefore run the schedule with its
  log-SNR shifted by log σ².

Both are the same operation, a constant shift of λ:

    λ'(t)  = λ(t) + log(snr_scale)                 i.e. SNR'(t) = snr_scale · SNR(t)
    ᾱ'_t   = sigmoid(λ'(t))                        (ᾱ = SNR / (1 + SNR))
    β'_t   = 1 - ᾱ'_t / ᾱ'_{t-1},   ᾱ'_{-1} = 1    (undo the cumulative product)

``snr_scale`` < 1 makes every step noisier (use it for larger images or latents that carry
more signal per element); > 1 makes it cleaner.

``chapter_heuristic_betas`` is the chapter's rule of thumb of multiplying beta_start and
beta_end by the latent std. It is kept for comparison: it does *not* multiply the SNR by a
constant, so it is not the principled shift above (the tests and the notebook show the gap).
"""

from __future__ import annotations

import math
from dataclasses import replace

from torch import Tensor

from ldm_teach.argcheck import check_int, check_real
from ldm_teach.diffusion.betas import _linear, _scaled_linear, shift_betas
from ldm_teach.diffusion.schedules import NoiseSchedule, ScheduleConfig


def _check_positive_finite(name: str, value: float) -> float:
    return check_real(value, name, lo=0.0, lo_open=True, expected="a positive finite number")


def _check_positive_int(name: str, value: int) -> int:
    return check_int(value, name, lo=1)


def shifted_schedule(schedule: NoiseSchedule, snr_scale: float) -> NoiseSchedule:
    """The schedule whose SNR is ``snr_scale`` times that of ``schedule`` at every t.

    See :func:`shift_betas` for the equations.

    Args:
        schedule: the schedule to shift (T steps).
        snr_scale: positive finite factor on the SNR, e.g. ``resolution_snr_scale(64, 32)``
            or ``latent_std_snr_scale(sigma)``. 1 returns the same ᾱ.
    Returns:
        A new float64 ``NoiseSchedule`` built with ``NoiseSchedule.from_betas``; its
        ``config`` is the original one with ``snr_scale`` multiplied by ``snr_scale``, so
        that ``NoiseSchedule(result.config)`` rebuilds it when ``schedule`` was built from
        its config (a model can be saved and loaded with a shifted schedule). ᾱ' stays
        strictly decreasing in (0, 1) when ᾱ is; a zero terminal SNR stays zero.
    Raises:
        TypeError: if schedule is not a NoiseSchedule.
        ValueError: if snr_scale is not a positive finite number, or is too extreme (see
            :func:`shift_betas`).
    """
    snr_scale = _check_positive_finite("snr_scale", snr_scale)
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")
    combined = schedule.config.snr_scale * snr_scale
    if not math.isfinite(combined) or combined <= 0:
        raise ValueError(
            f"snr_scale={snr_scale:g} times the schedule's own snr_scale="
            f"{schedule.config.snr_scale:g} is not a positive finite number"
        )
    betas = shift_betas(schedule.betas, snr_scale)
    config = replace(schedule.config, snr_scale=combined)
    return NoiseSchedule.from_betas(betas, config)


def resolution_snr_scale(resolution: int, base_resolution: int) -> float:
    """SNR factor (base_resolution / resolution)² for training at another resolution.

    Hoogeboom et al. 2023 (arXiv:2301.11093, Sec. 3.1): a schedule tuned at
    ``base_resolution`` is shifted by 2 log(base / d) in log-SNR at resolution d. For 64 vs
    a base of 32 this is 0.25 (every step is noisier).

    Raises:
        ValueError: if either argument is not an int >= 1.
    """
    resolution = _check_positive_int("resolution", resolution)
    base_resolution = _check_positive_int("base_resolution", base_resolution)
    return (base_resolution / resolution) ** 2


def latent_std_snr_scale(latent_std: float) -> float:
    """SNR factor σ² of data with std σ: the effective SNR is σ² ᾱ_t / (1 - ᾱ_t).

    ``shifted_schedule(s, latent_std_snr_scale(sigma))`` is the SNR curve that unnormalised
    latents of std sigma actually experience under s; shifting by 1 / sigma² instead gives
    them back the SNR curve s has on unit-variance data.

    Raises:
        ValueError: if latent_std is not a positive finite number.
    """
    latent_std = _check_positive_finite("latent_std", latent_std)
    scale = latent_std**2
    if not (0.0 < scale < math.inf):  # 1e-200 ** 2 underflows to 0, 1e200 ** 2 overflows
        raise ValueError(
            f"latent_std must be a std whose square is a positive finite float, "
            f"got {latent_std!r} (its square is {scale!r})"
        )
    return scale


def chapter_heuristic_betas(
    schedule_config: ScheduleConfig, latent_std: float, max_beta: float = 0.999
) -> Tensor:
    """The chapter's heuristic: multiply beta_start and beta_end by the latent std.

    This is a rule of thumb from the chapter, *not* a principled adaptation: scaling the
    betas does not scale the SNR by a constant factor (compare ``shifted_schedule``), and the
    factor σ has no derivation. It is kept so the notebook can put the two side by side.

    Args:
        schedule_config: a ``"linear"`` (β linear in t) or ``"scaled_linear"`` (sqrt(β)
            linear in t) config; its beta_start and beta_end are scaled.
        latent_std: σ, the std of the latents, positive and finite.
        max_beta: upper clip for β, in (0, 1), so that no α_t = 1 - β_t reaches 0.
    Returns:
        float64 (T,) betas: linspace(beta_start σ, beta_end σ) for "linear" (the
        sqrt-linear analogue for "scaled_linear"), clipped to at most max_beta.
        Build a schedule with ``NoiseSchedule.from_betas(betas, schedule_config)``.
    Raises:
        ValueError: if latent_std is not positive and finite, max_beta is not in (0, 1), or
            the config's beta_schedule is neither "linear" nor "scaled_linear".
    """
    latent_std = _check_positive_finite("latent_std", latent_std)
    if not 0.0 < max_beta < 1.0:
        raise ValueError(f"max_beta must be in (0, 1), got {max_beta}")
    T = schedule_config.num_train_timesteps
    beta_start = schedule_config.beta_start * latent_std
    beta_end = schedule_config.beta_end * latent_std
    # the scaled end points may pass 1 (clipped below), so the unchecked formulas
    if schedule_config.beta_schedule == "linear":
        betas = _linear(T, beta_start, beta_end)
    elif schedule_config.beta_schedule == "scaled_linear":
        betas = _scaled_linear(T, beta_start, beta_end)
    else:
        raise ValueError(
            "schedule_config.beta_schedule must be 'linear' or 'scaled_linear' for the "
            f"chapter's heuristic, got {schedule_config.beta_schedule!r}"
        )
    return betas.clamp(max=max_beta)
