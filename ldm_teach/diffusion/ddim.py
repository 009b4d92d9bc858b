"""DDIM sampler (Song et al. 2020, arXiv:2010.02502), Eq. 12 and 16.

A DDIM step jumps from timestep t to any earlier timestep t_prev of a short schedule:

    x̂0     = (x_t - sqrt(1 - ᾱ_t) ε̂) / sqrt(ᾱ_t)                          predicted x0, Eq. 12
    σ_t    = η · sqrt((1 - ᾱ_prev) / (1 - ᾱ_t)) · sqrt(1 - ᾱ_t / ᾱ_prev)  Eq. 16
    x_prev = sqrt(ᾱ_prev) x̂0                                              Eq. 12: predicted x0,
             + sqrt(1 - ᾱ_prev - σ_t²) ε̂                                  direction pointing to x_t,
             + σ_t z,  z ~ N(0, I)                                        random noise

η = 0 gives the deterministic DDIM sampler; η = 1 with consecutive timesteps gives DDPM.
Variable names: ``alphas_cumprod`` -> ᾱ, ``alpha_prev`` -> ᾱ_{t_prev}, ``sigma`` -> σ_t,
``pred_x0`` -> x̂0, ``eps`` -> ε̂. The step follows diffusers' ``DDIMScheduler.step``
(with ``use_clipped_model_output=False``); the parity tests check it to 1e-6.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from ldm_teach.argcheck import check_bool, is_int
from ldm_teach.diffusion.forward import (
    as_timestep,
    check_same_shape,
    gaussian_noise,
    predict_x0_and_eps,
)
from ldm_teach.diffusion.sampling import ModelFn, check_clip_sample, initial_noise
from ldm_teach.diffusion.schedules import NoiseSchedule

SPACINGS = ("leading", "trailing", "linspace")


def ddim_timesteps(
    num_inference_steps: int,
    num_train_timesteps: int,
    spacing: str = "leading",
    steps_offset: int = 0,
) -> Tensor:
    """The timesteps a sampler visits, in descending order (as diffusers' ``set_timesteps``).

    With T = num_train_timesteps and n = num_inference_steps (Lin et al. 2023,
    arXiv:2305.08891, Table 2):
        "leading":  k · (T // n) + steps_offset for k = n-1 .. 0  (DDIM, LDM, SD 1.x/2.x)
        "trailing": round(T - k · T/n) - 1 for k = 0 .. n-1       (always starts at T-1)
        "linspace": round(linspace(0, T-1, n)), reversed          (starts at T-1, ends at 0)
    As in diffusers, ``steps_offset`` is used by "leading" only (Stable Diffusion uses 1).

    Returns:
        int64 (n,), strictly descending, every entry in [0, T-1].
    Raises:
        ValueError: if n is not in [1, T], spacing is unknown, or steps_offset pushes a
            "leading" timestep past T-1.
    """
    T, n = num_train_timesteps, num_inference_steps
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"num_train_timesteps must be an int >= 1, got {T!r}")
    if not is_int(n) or not 1 <= n <= T:
        raise ValueError(f"num_inference_steps must be an int in [1, {T}], got {n!r}")
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    if not is_int(steps_offset) or steps_offset < 0:
        raise ValueError(f"steps_offset must be an int >= 0, got {steps_offset!r}")

    # numpy, with the same float operations as diffusers, so the rounding agrees exactly
    if spacing == "leading":
        step_ratio = T // n
        timesteps = np.arange(n - 1, -1, -1, dtype=np.int64) * step_ratio + steps_offset
        if timesteps[0] > T - 1:
            raise ValueError(
                f"steps_offset must be <= {T - 1 - int(timesteps[0]) + steps_offset} for "
                f"num_inference_steps={n}, num_train_timesteps={T} ('leading' spacing), "
                f"got {steps_offset}"
            )
    elif spacing == "trailing":
        step_ratio = T / n
        # The same float arange as diffusers (its rounding of exact halves such as 937.5
        # depends on arange's arithmetic), cut to n entries: for some n (61 of T=1000) the
        # float arange returns one more value, ≈ 0, which would become timestep -1.
        timesteps = np.round(np.arange(T, 0, -step_ratio)[:n]).astype(np.int64) - 1
    else:  # "linspace"
        timesteps = np.linspace(0, T - 1, n).round()[::-1].astype(np.int64)
    return torch.from_numpy(timesteps.copy())


def _check_ddim_step(
    model_output, t, t_prev, x_t, schedule, eta, clip_sample, final_alpha_cumprod
) -> tuple[int, int]:
    """``ddim_step``'s argument checks; returns (t, t_prev) as ints (t_prev < 0: final step)."""
    T = schedule.num_train_timesteps
    t = as_timestep(t, T)
    try:
        t_prev = operator.index(t_prev)  # int, numpy integer or one-element integer tensor
    except TypeError:
        raise ValueError(f"t_prev must be an integer timestep, got {t_prev!r}") from None
    if t_prev >= 0:
        t_prev = as_timestep(t_prev, T, name="t_prev")
        if t_prev >= t:
            raise ValueError(
                f"t_prev must be < t={t} (or negative for the final step), got {t_prev}"
            )
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    check_clip_sample(clip_sample)
    check_same_shape("x_t", x_t, "model_output", model_output)
    if final_alpha_cumprod is not None and not 0.0 < float(final_alpha_cumprod) <= 1.0:
        raise ValueError(f"final_alpha_cumprod must be in (0, 1], got {final_alpha_cumprod}")
    return t, t_prev


def ddim_step(
    model_output: Tensor,
    t: int,
    t_prev: int,
    x_t: Tensor,
    schedule: NoiseSchedule,
    eta: float = 0.0,
    prediction_type: str = "epsilon",
    generator: torch.Generator | None = None,
    variance_noise: Tensor | None = None,
    clip_sample: float | None = None,
    final_alpha_cumprod: float | None = None,
) -> tuple[Tensor, Tensor]:
    """One DDIM step x_t -> x_{t_prev} (Song et al. 2020, Eq. 12 and 16).

    Args:
        model_output: (B, C, H, W) network output at (x_t, t): eps, x0 or v.
        t: current timestep, an int in [0, T-1].
        t_prev: the next (smaller) timestep of the sampling schedule, in [0, t-1];
            any negative value means "the final step", using ``final_alpha_cumprod``.
        x_t: (B, C, H, W) current sample, any float dtype.
        schedule: the training noise schedule.
        eta: η in [0, 1]; 0 is deterministic DDIM, 1 is DDPM-like.
        prediction_type: "epsilon", "sample" (x0) or "v_prediction".
        generator: seeds the noise z when eta > 0 (drawn like diffusers' ``randn_tensor``).
        variance_noise: the noise z itself, (B, C, H, W); overrides ``generator``.
        clip_sample: clip x̂0 to [-clip_sample, clip_sample]; ε̂ is *not* recomputed from the
            clipped x̂0 (diffusers' default ``use_clipped_model_output=False``).
        final_alpha_cumprod: ᾱ used when t_prev < 0. None means 1.0 (diffusers'
            ``set_alpha_to_one=True``); pass ᾱ_0 for ``set_alpha_to_one=False``.
    Returns:
        (x_prev, pred_x0), both of x_t's shape and dtype.
    Raises:
        ValueError: on out-of-range t or t_prev, eta outside [0, 1], mismatched shapes, or
            an eps model_output at a t where ᾱ_t = 0 (see ``predict_x0_from_eps``).
    """
    t, t_prev = _check_ddim_step(
        model_output, t, t_prev, x_t, schedule, eta, clip_sample, final_alpha_cumprod
    )

    # 1. ᾱ_t and ᾱ_prev as python floats (float64)
    alpha_t = float(schedule.alphas_cumprod[t])
    if t_prev >= 0:
        alpha_prev = float(schedule.alphas_cumprod[t_prev])
    else:
        alpha_prev = 1.0 if final_alpha_cumprod is None else float(final_alpha_cumprod)

    # 2. predicted x0 and eps, Eq. 12
    t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)  # (B,)
    pred_x0, eps = predict_x0_and_eps(model_output, x_t, t_batch, schedule, prediction_type)
    if clip_sample is not None:
        pred_x0 = pred_x0.clamp(-clip_sample, clip_sample)

    # 3. σ_t, Eq. 16
    variance = (1 - alpha_prev) / (1 - alpha_t) * (1 - alpha_t / alpha_prev)
    sigma = eta * math.sqrt(max(variance, 0.0))

    # 4. x_prev = sqrt(ᾱ_prev) x̂0 + sqrt(1 - ᾱ_prev - σ²) ε̂, Eq. 12
    dir_coef = math.sqrt(max(1 - alpha_prev - sigma**2, 0.0))  # ≥ 0 for η ≤ 1, up to rounding
    x_prev = math.sqrt(alpha_prev) * pred_x0 + dir_coef * eps

    # 5. + σ_t z (no noise drawn when η = 0, so a generator is not advanced)
    if eta > 0:
        if variance_noise is None:
            variance_noise = gaussian_noise(
                tuple(x_t.shape), generator, device=x_t.device, dtype=model_output.dtype
            )
        else:
            check_same_shape("x_t", x_t, "variance_noise", variance_noise)
        x_prev = x_prev + sigma * variance_noise.to(device=x_t.device, dtype=x_t.dtype)
    return x_prev, pred_x0


@torch.no_grad()
def ddim_sample(
    model_fn: ModelFn,
    shape: tuple[int, ...],
    schedule: NoiseSchedule,
    *,
    num_inference_steps: int = 50,
    eta: float = 0.0,
    spacing: str = "leading",
    steps_offset: int = 0,
    set_alpha_to_one: bool = True,
    prediction_type: str = "epsilon",
    generator: torch.Generator | None = None,
    x_T: Tensor | None = None,
    clip_sample: float | None = None,
    progress: bool = True,
    return_trajectory: bool = False,
    device: torch.device | str | None = None,
    timesteps: list[int] | None = None,
    after_step: Callable[[int, int, Tensor], Tensor] | None = None,
) -> Tensor | tuple[Tensor, list[dict]]:
    """Draw samples with ``num_inference_steps`` DDIM steps (Song et al. 2020, Eq. 12, 16).

    The previous timestep of each step is the next entry of ``ddim_timesteps(...)`` (and -1
    after the last), so every spacing works; the final step uses ᾱ = 1 if
    ``set_alpha_to_one`` else ᾱ_0, as diffusers' ``DDIMScheduler`` does.

    Args:
        model_fn: (x_t (B, C, H, W), t (B,) int64) -> model output of x_t's shape.
        shape: (B, C, H, W) of the samples.
        schedule: the training noise schedule.
        num_inference_steps: n in [1, T].
        eta: η in [0, 1] (0: deterministic).
        spacing, steps_offset: see ``ddim_timesteps``.
        set_alpha_to_one: final ᾱ is 1.0 (True) or ᾱ_0 (False).
        prediction_type: "epsilon", "sample" or "v_prediction".
        generator: seeds x_T (if not given) and the noise when eta > 0.
        x_T: starting noise of ``shape``; its dtype sets the sampling dtype (default float32).
        clip_sample: clip x̂0 to [-clip_sample, clip_sample] at each step (None: no clipping).
        progress: show a tqdm progress bar.
        return_trajectory: also return, per step, {"t": int, "x_t": Tensor, "pred_x0": Tensor}.
        device: where to sample; default x_T's device, else the CPU.
        timesteps: visit exactly these (strictly descending ints in [0, T-1]) instead of
            ``ddim_timesteps(num_inference_steps, ...)``, e.g. the tail of a schedule for
            img2img, which starts from a noised image part-way down (x_T is then x_τ).
        after_step: ``after_step(i, t_prev, x_prev) -> x`` replaces the sample after step i
            (t_prev = -1 after the last), e.g. inpainting's blend of the known region.
    Returns:
        x0 samples (B, C, H, W) in x_T's dtype, or (x0, trajectory) if return_trajectory.
    Raises:
        ValueError: on invalid arguments (see ``ddim_timesteps`` and ``ddim_step``), or with
            prediction_type="epsilon" at a visited t where ᾱ_t = 0 (zero terminal SNR with
            "trailing"/"linspace" spacing): x0 cannot be recovered from eps there, so such
            a schedule needs a v-prediction model.
    """
    return_trajectory = check_bool(return_trajectory, "return_trajectory")
    T = schedule.num_train_timesteps
    if timesteps is None:
        timesteps = ddim_timesteps(num_inference_steps, T, spacing, steps_offset).tolist()
    else:
        timesteps = _check_timesteps(timesteps, T)
    set_alpha_to_one = check_bool(set_alpha_to_one, "set_alpha_to_one")
    final_alpha_cumprod = 1.0 if set_alpha_to_one else float(schedule.alphas_cumprod[0])
    x = initial_noise(shape, x_T, generator, device)
    B = x.shape[0]
    trajectory: list[dict] = []
    progress = check_bool(progress, "progress")
    for i, t in enumerate(tqdm(timesteps, disable=not progress, desc="DDIM")):
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        t_batch = torch.full((B,), t, dtype=torch.long, device=x.device)  # (B,)
        model_output = model_fn(x, t_batch)
        x_prev, pred_x0 = ddim_step(
            model_output,
            t,
            t_prev,
            x,
            schedule,
            eta=eta,
            prediction_type=prediction_type,
            generator=generator,
            clip_sample=clip_sample,
            final_alpha_cumprod=final_alpha_cumprod,
        )
        if return_trajectory:
            trajectory.append({"t": t, "x_t": x, "pred_x0": pred_x0})
        x = x_prev if after_step is None else after_step(i, t_prev, x_prev)
    return (x, trajectory) if return_trajectory else x


def _check_timesteps(timesteps, T: int) -> list[int]:
    """An explicit timestep list as Python ints; ValueError unless non-empty, strictly
    descending and inside [0, T-1]."""
    ts = [int(t) for t in timesteps] if all(is_int(t) for t in timesteps) else None
    pairs = zip(ts or [], (ts or [])[1:], strict=False)  # consecutive timesteps
    if not ts or any(not 0 <= t < T for t in ts) or any(a <= b for a, b in pairs):
        raise ValueError(
            f"timesteps must be a non-empty, strictly descending list of ints in [0, {T - 1}], "
            f"got {list(timesteps)[:8]!r}"
        )
    return ts
