"""The forward (noising) process and the conversions between x0, eps and v.

Ho et al. 2020 (arXiv:2006.11239):
    q(x_t | x0)          = N(sqrt(ᾱ_t) x0, (1 - ᾱ_t) I)                      Eq. 4
    x_t                  = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) eps,  eps ~ N(0, I)  Eq. 4
    x0                   = (x_t - sqrt(1 - ᾱ_t) eps) / sqrt(ᾱ_t)             Eq. 15
    q(x_{t-1} | x_t, x0) = N(μ̃_t(x_t, x0), β̃_t I)                            Eq. 6-7
Salimans & Ho 2022 (arXiv:2202.00512, Sec. 4 and Appendix D):
    v                    = sqrt(ᾱ_t) eps - sqrt(1 - ᾱ_t) x0
    x0                   = sqrt(ᾱ_t) x_t - sqrt(1 - ᾱ_t) v
    eps                  = sqrt(ᾱ_t) v + sqrt(1 - ᾱ_t) x_t

Variable names: ``alphas_cumprod`` -> ᾱ, ``x0`` -> x_0, ``x_t`` -> x_t, ``eps`` -> ε, ``v`` -> v.
The coefficients are computed in float64 in the schedule and cast to the data's dtype by
``extract``; the arithmetic on the data then runs in the data's dtype.
"""

from __future__ import annotations

import operator

import torch
from torch import Tensor

from ldm_teach.argcheck import is_int
from ldm_teach.diffusion.schedules import NoiseSchedule

PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")  # what the network outputs: eps, x0, v


def extract(a: Tensor, t: Tensor, ndim: int, dtype: torch.dtype | None = None) -> Tensor:
    """Gather per-timestep coefficients a[t] and shape them to broadcast against a batch.

    Args:
        a: (T,) coefficients (float64 in a ``NoiseSchedule``).
        t: (B,) integer timesteps in [0, T-1].
        ndim: number of dimensions of the data, e.g. 4 for (B, C, H, W).
        dtype: dtype of the result (the data's dtype); defaults to ``a.dtype``.
    Returns:
        (B, 1, ..., 1) with ``ndim`` dimensions, on t's device, in ``dtype``.
    Raises:
        ValueError: as :func:`check_timesteps` (t not an integer (B,) tensor in [0, T-1]).
    """
    check_timesteps(t, a.shape[0])  # integer (B,) in [0, T-1], not an IndexError
    # int64 explicitly: a uint8 index would be read as a boolean mask, int8/int16 rejected
    out = a[t.to(device=a.device, dtype=torch.long)]  # (B,), gathered where the schedule lives
    # cast before moving: float64 does not exist on every device (e.g. mps)
    out = out.to(dtype=dtype or a.dtype).to(t.device)
    return out.reshape(t.shape[0], *([1] * (ndim - 1)))  # (B, 1, ..., 1)


def check_timesteps(t: Tensor, num_train_timesteps: int, batch_size: int | None = None) -> None:
    """Raise ``ValueError`` unless t is an integer (B,) tensor with values in [0, T-1].

    uint8 and bool are refused: PyTorch reads a uint8 or bool index as a boolean mask.
    """
    if not isinstance(t, Tensor):
        raise ValueError(f"t must be a torch.Tensor of shape (B,), got {type(t).__name__}")
    check_timestep_dtype(t)
    if t.ndim != 1:
        raise ValueError(f"t must have shape (B,), got {tuple(t.shape)}")
    if batch_size is not None and t.shape[0] != batch_size:
        raise ValueError(
            f"t must have shape ({batch_size},) to match the batch, got {tuple(t.shape)}"
        )
    if t.numel() > 0:
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi > num_train_timesteps - 1:
            bad = lo if lo < 0 else hi
            raise ValueError(f"t must be in [0, {num_train_timesteps - 1}], got {bad}")


def check_timestep_dtype(t: Tensor, name: str = "t") -> None:
    """Raise ``ValueError`` unless t has a signed integer dtype (uint8/bool index as masks)."""
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype in (torch.bool, torch.uint8):
        raise ValueError(
            f"{name} must be an integer tensor (torch.int64; not uint8 or bool, which index "
            f"as a boolean mask), got dtype {t.dtype}"
        )


def as_timestep(t: int | Tensor, num_train_timesteps: int, name: str = "t") -> int:
    """Validate a single timestep (a python int or a one-element integer tensor) and return it.

    Raises:
        ValueError: naming ``name`` if it is not an integer in [0, T-1].
    """
    if isinstance(t, bool) or (isinstance(t, Tensor) and t.dtype == torch.bool):
        raise ValueError(f"{name} must be an integer timestep, got {t!r}")
    try:
        t = operator.index(t)  # accepts int, numpy integers, one-element integer tensors
    except TypeError:
        raise ValueError(f"{name} must be an integer timestep, got {t!r}") from None
    if not 0 <= t <= num_train_timesteps - 1:
        raise ValueError(f"{name} must be in [0, {num_train_timesteps - 1}], got {t}")
    return t


def check_floating(name: str, x: Tensor) -> None:
    """Raise ``ValueError`` naming ``name`` unless x is a real floating-point tensor.

    Integer data would make every coefficient of the schedule (cast to the data's dtype)
    round to 0 or 1, so the result would be silently wrong (e.g. q_sample returning zeros).
    """
    if not isinstance(x, Tensor) or not x.dtype.is_floating_point:
        got = f"dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"{name} must be a floating-point tensor (e.g. torch.float32), got {got}; "
            f"convert it first, e.g. {name}.float()"
        )


def check_same_shape(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    """Raise ``ValueError`` naming ``name_b`` unless b has a's shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_b} must have the same shape as {name_a} {tuple(a.shape)}, got {tuple(b.shape)}"
        )


def check_alpha_bar_nonzero(t: Tensor, schedule: NoiseSchedule) -> None:
    """Raise ``ValueError`` if ᾱ_t = 0 at any of the (already checked) timesteps t.

    There (the last step of a zero-terminal-SNR schedule, Lin et al. 2023) x_t is pure
    noise, so eps says nothing about x0 and x0 = (x_t - sqrt(1 - ᾱ_t) eps) / sqrt(ᾱ_t) is 0/0.
    """
    zero = schedule.alphas_cumprod[t.to(schedule.alphas_cumprod.device, torch.long)] == 0  # (B,)
    if bool(zero.any()):
        bad = int(t[zero.to(t.device)][0])
        raise ValueError(
            f"x0 cannot be recovered from eps where alpha_bar_t = 0 (t={bad}; zero terminal "
            f"SNR): eps carries no information on x0 there. Use a model that predicts v, "
            f'prediction_type="v_prediction" (or "sample"), with this schedule'
        )


def gaussian_noise(
    shape: tuple[int, ...],
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Standard normal noise, reproducible with ``generator``.

    Drawn on the generator's device and then moved to ``device`` (so a CPU generator gives the
    same numbers whatever the accelerator), exactly as diffusers' ``randn_tensor`` does.

    Args:
        shape: the shape, a tuple of ints >= 0.
        generator: a ``torch.Generator`` or None (the global RNG).
        device, dtype: where and in which floating dtype the noise ends up.
    Raises:
        TypeError: if generator is not a torch.Generator, shape not a sequence of ints, or
            dtype not a floating-point torch.dtype.
    """
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got "
            f"{type(generator).__name__} (seed one: "
            "torch.Generator().manual_seed(0))"
        )
    if not isinstance(shape, (tuple, list, torch.Size)) or not all(
        is_int(s) and s >= 0 for s in shape
    ):
        raise TypeError(f"shape must be a tuple of ints >= 0, got {shape!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    draw_device = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=draw_device, dtype=dtype).to(device)


def _signal_noise_coefficients(
    t: Tensor, schedule: NoiseSchedule, name_a: str, a: Tensor, name_b: str, b: Tensor
) -> tuple[Tensor, Tensor]:
    """Check t and shapes, then return (sqrt(ᾱ_t), sqrt(1 - ᾱ_t)) broadcast to a's shape.

    Every closed-form relation between x0, x_t, eps and v below is a linear combination with
    these two coefficients."""
    check_floating(name_a, a)
    check_floating(name_b, b)
    check_timesteps(t, schedule.num_train_timesteps, a.shape[0])
    check_same_shape(name_a, a, name_b, b)
    sqrt_ac = extract(schedule.sqrt_alphas_cumprod, t, a.ndim, a.dtype)  # (B, 1, 1, 1)
    sqrt_one_minus_ac = extract(schedule.sqrt_one_minus_alphas_cumprod, t, a.ndim, a.dtype)
    return sqrt_ac, sqrt_one_minus_ac


def q_sample(x0: Tensor, t: Tensor, noise: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Sample x_t ~ q(x_t | x0) in closed form (Ho et al. 2020, Eq. 4).

    Args:
        x0: clean data, (B, ...) e.g. (B, C, H, W), any float dtype.
        t: integer timesteps, (B,), each in [0, schedule.num_train_timesteps - 1].
        noise: standard normal, same shape as x0, any float dtype (cast to x0's).
        schedule: the noise schedule.
    Returns:
        x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) noise, same shape and dtype as x0.
    Raises:
        ValueError: if x0 or noise is not a floating-point tensor, t is not an integer (B,)
            tensor in range, or shapes disagree.
    """
    sqrt_ac, sqrt_one_minus_ac = _signal_noise_coefficients(t, schedule, "x0", x0, "noise", noise)
    return sqrt_ac * x0 + sqrt_one_minus_ac * noise.to(x0.dtype)


def predict_x0_from_eps(x_t: Tensor, t: Tensor, eps: Tensor, schedule: NoiseSchedule) -> Tensor:
    """x0 = (x_t - sqrt(1 - ᾱ_t) eps) / sqrt(ᾱ_t)  (Ho et al. 2020, Eq. 15).

    Written as sqrt(1/ᾱ_t) x_t - sqrt(1/ᾱ_t - 1) eps, with both coefficients from float64.
    Undefined where ᾱ_t = 0 (the last step of a zero-terminal-SNR schedule): use v there.
    Shapes: x_t, eps (B, ...); t (B,). Returns x_t's shape and dtype.

    Raises:
        ValueError: if x_t or eps is not floating point, t is bad, shapes disagree, or
            ᾱ_t = 0 at some t (x0 cannot be recovered from eps there; a model for such a
            schedule must predict v, ``prediction_type="v_prediction"``).
    """
    check_floating("x_t", x_t)
    check_floating("eps", eps)
    check_timesteps(t, schedule.num_train_timesteps, x_t.shape[0])
    check_same_shape("x_t", x_t, "eps", eps)
    check_alpha_bar_nonzero(t, schedule)
    c1 = extract(schedule.sqrt_recip_alphas_cumprod, t, x_t.ndim, x_t.dtype)
    c2 = extract(schedule.sqrt_recipm1_alphas_cumprod, t, x_t.ndim, x_t.dtype)
    return c1 * x_t - c2 * eps


def predict_eps_from_x0(x_t: Tensor, t: Tensor, x0: Tensor, schedule: NoiseSchedule) -> Tensor:
    """eps = (x_t - sqrt(ᾱ_t) x0) / sqrt(1 - ᾱ_t)  (Eq. 4 solved for eps).

    Finite for every t, including ᾱ_t = 0 (there eps = x_t).
    Shapes: x_t, x0 (B, ...); t (B,). Returns x_t's shape and dtype.
    Raises: ValueError on non-float inputs, bad t or mismatched shapes.
    """
    sqrt_ac, sqrt_one_minus_ac = _signal_noise_coefficients(t, schedule, "x_t", x_t, "x0", x0)
    return (x_t - sqrt_ac * x0) / sqrt_one_minus_ac


def get_v(x0: Tensor, eps: Tensor, t: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Velocity target v = sqrt(ᾱ_t) eps - sqrt(1 - ᾱ_t) x0 (Salimans & Ho 2022, Sec. 4).

    Shapes: x0, eps (B, ...); t (B,). Returns x0's shape and dtype.
    Raises: ValueError on non-float inputs, bad t or mismatched shapes.
    """
    sqrt_ac, sqrt_one_minus_ac = _signal_noise_coefficients(t, schedule, "x0", x0, "eps", eps)
    return sqrt_ac * eps - sqrt_one_minus_ac * x0


def predict_x0_from_v(x_t: Tensor, t: Tensor, v: Tensor, schedule: NoiseSchedule) -> Tensor:
    """x0 = sqrt(ᾱ_t) x_t - sqrt(1 - ᾱ_t) v (Salimans & Ho 2022, Appendix D).

    Shapes: x_t, v (B, ...); t (B,). Returns x_t's shape and dtype.
    Raises: ValueError on non-float inputs, bad t or mismatched shapes.
    """
    sqrt_ac, sqrt_one_minus_ac = _signal_noise_coefficients(t, schedule, "x_t", x_t, "v", v)
    return sqrt_ac * x_t - sqrt_one_minus_ac * v


def predict_eps_from_v(x_t: Tensor, t: Tensor, v: Tensor, schedule: NoiseSchedule) -> Tensor:
    """eps = sqrt(ᾱ_t) v + sqrt(1 - ᾱ_t) x_t (Salimans & Ho 2022, Appendix D).

    Shapes: x_t, v (B, ...); t (B,). Returns x_t's shape and dtype.
    Raises: ValueError on non-float inputs, bad t or mismatched shapes.
    """
    sqrt_ac, sqrt_one_minus_ac = _signal_noise_coefficients(t, schedule, "x_t", x_t, "v", v)
    return sqrt_ac * v + sqrt_one_minus_ac * x_t


def predict_x0_and_eps(
    model_output: Tensor,
    x_t: Tensor,
    t: Tensor,
    schedule: NoiseSchedule,
    prediction_type: str = "epsilon",
) -> tuple[Tensor, Tensor]:
    """Turn a network output into both x0 and eps, whatever the network predicts.

    Args:
        model_output: (B, ...) the network's prediction of eps ("epsilon"), of x0
            ("sample") or of v ("v_prediction"); the names are diffusers'.
        x_t: (B, ...) the noisy input at timesteps t.
        t: (B,) integer timesteps.
        schedule: the noise schedule.
        prediction_type: "epsilon", "sample" or "v_prediction".
    Returns:
        (x0, eps), both of x_t's shape and dtype.
    Raises:
        ValueError: on an unknown prediction_type, bad t, mismatched shapes, non-float
            inputs, or "epsilon" at a t where ᾱ_t = 0 (see ``predict_x0_from_eps``).
    """
    if prediction_type == "epsilon":
        eps = model_output
        x0 = predict_x0_from_eps(x_t, t, eps, schedule)
    elif prediction_type == "sample":
        x0 = model_output
        eps = predict_eps_from_x0(x_t, t, x0, schedule)
    elif prediction_type == "v_prediction":
        x0 = predict_x0_from_v(x_t, t, model_output, schedule)
        eps = predict_eps_from_v(x_t, t, model_output, schedule)
    else:
        raise ValueError(
            f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}"
        )
    return x0.to(x_t.dtype), eps.to(x_t.dtype)


def q_posterior_mean_variance(
    x0: Tensor, x_t: Tensor, t: Tensor, schedule: NoiseSchedule
) -> tuple[Tensor, Tensor, Tensor]:
    """Mean and variance of the forward-process posterior q(x_{t-1} | x_t, x0) (Ho et al. Eq. 6-7).

    μ̃_t = β_t sqrt(ᾱ_{t-1}) / (1 - ᾱ_t) · x0 + sqrt(α_t) (1 - ᾱ_{t-1}) / (1 - ᾱ_t) · x_t
    β̃_t = (1 - ᾱ_{t-1}) / (1 - ᾱ_t) · β_t

    Args:
        x0: (B, ...) clean (or predicted clean) data.
        x_t: (B, ...) noisy data at timesteps t.
        t: (B,) integer timesteps in [0, T-1].
        schedule: the noise schedule.
    Returns:
        mean (B, ...), variance (B, 1, ..., 1), log_variance (B, 1, ..., 1), all in x_t's dtype.
        At t = 0 the variance is 0 and log_variance is clipped to log β̃_1 (Ho et al.'s code).
    Raises:
        ValueError: if x0 or x_t is not floating point, t is out of range or shapes disagree.
    """
    check_floating("x_t", x_t)
    check_floating("x0", x0)
    check_timesteps(t, schedule.num_train_timesteps, x_t.shape[0])
    check_same_shape("x_t", x_t, "x0", x0)
    coef1 = extract(schedule.posterior_mean_coef1, t, x_t.ndim, x_t.dtype)
    coef2 = extract(schedule.posterior_mean_coef2, t, x_t.ndim, x_t.dtype)
    mean = coef1 * x0 + coef2 * x_t
    variance = extract(schedule.posterior_variance, t, x_t.ndim, x_t.dtype)
    log_variance = extract(schedule.posterior_log_variance_clipped, t, x_t.ndim, x_t.dtype)
    return mean, variance, log_variance
