"""β schedules: the T variances β_0 … β_{T-1} of the forward process, and transformations
of them. Each schedule is defined exactly as diffusers' ``DDPMScheduler`` defines it:

- ``linear_betas``: β linear from ``beta_start`` to ``beta_end`` (Ho et al. 2020,
  arXiv:2006.11239, Sec. 4).
- ``scaled_linear_betas``: sqrt(β) linear, then squared (Latent/Stable Diffusion, Rombach
  et al. 2022, arXiv:2112.10752).
- ``cosine_betas``: ᾱ(t) = cos²(((t/T + s)/(1 + s)) π/2) (Nichol & Dhariwal 2021,
  arXiv:2102.09672, Eq. 17).
- ``sigmoid_betas``: β = sigmoid(linspace(-6, 6)) scaled into [beta_start, beta_end]
  (GeoDiff, Xu et al. 2022, arXiv:2203.02923).
- ``rescale_zero_terminal_snr``: ᾱ_{T-1} = 0 (Lin et al. 2023, arXiv:2305.08891, Alg. 1).
- ``shift_betas``: the SNR multiplied by a constant at every t (Hoogeboom et al. 2023,
  arXiv:2301.11093, Sec. 3.1).

Every function returns float64 tensors on the CPU (see ``schedules.py`` for why).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ldm_teach.argcheck import check_real, is_int, is_real

BETA_SCHEDULES = ("linear", "scaled_linear", "cosine", "sigmoid")


#: The most training timesteps a schedule may have: the UNet accepts t up to 1e5, and a
#: schedule of 10**9 steps would need gigabytes per array (DDPM and SD use 1000).
MAX_NUM_TIMESTEPS = 100_000


def _check_num_timesteps(num_train_timesteps: int) -> int:
    """``num_train_timesteps`` as an int; ValueError unless an integer in [1, 100000]."""
    T = num_train_timesteps
    if not is_int(T) or T < 1:
        raise ValueError(f"num_train_timesteps must be an int >= 1, got {T!r}")
    if T > MAX_NUM_TIMESTEPS:
        raise ValueError(
            f"num_train_timesteps must be at most {MAX_NUM_TIMESTEPS} (DDPM and "
            f"Stable Diffusion use 1000), got {T!r}"
        )
    return int(T)


def _check_open_unit(name: str, value: float) -> float:
    """``value`` as a float; ValueError naming ``name`` unless it is a finite number in (0, 1)."""
    if not (is_real(value) and math.isfinite(value) and 0.0 < value < 1.0):
        raise ValueError(f"{name} must be a finite number in (0, 1), got {value!r}")
    return float(value)


def _check_beta_args(num_train_timesteps: int, beta_start: float, beta_end: float) -> int:
    """Validate the arguments shared by the linear, scaled-linear and sigmoid schedules."""
    _check_open_unit("beta_start", beta_start)
    _check_open_unit("beta_end", beta_end)
    if beta_end < beta_start:  # noise must grow with t; ScheduleConfig refuses it too
        raise ValueError(
            f"beta_end must be >= beta_start, got beta_start={beta_start!r}, beta_end={beta_end!r}"
        )
    return _check_num_timesteps(num_train_timesteps)


def linear_betas(num_train_timesteps: int, beta_start: float, beta_end: float) -> Tensor:
    """β_t linear in t (Ho et al. 2020, Sec. 4). Returns float64 (T,).

    Raises:
        ValueError: unless num_train_timesteps is an int in [1, 100000] and beta_start <=
            beta_end are finite numbers in (0, 1).
    """
    num_train_timesteps = _check_beta_args(num_train_timesteps, beta_start, beta_end)
    return _linear(num_train_timesteps, beta_start, beta_end)


def _linear(num_train_timesteps: int, beta_start: float, beta_end: float) -> Tensor:
    """``linear_betas`` without the checks (``shift.chapter_heuristic_betas`` scales the
    end points past 1 and clips afterwards)."""
    return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64)


def scaled_linear_betas(num_train_timesteps: int, beta_start: float, beta_end: float) -> Tensor:
    """sqrt(β_t) linear in t, then squared (LDM / Stable Diffusion). Returns float64 (T,).

    Raises:
        ValueError: as :func:`linear_betas`.
    """
    num_train_timesteps = _check_beta_args(num_train_timesteps, beta_start, beta_end)
    return _scaled_linear(num_train_timesteps, beta_start, beta_end)


def _scaled_linear(num_train_timesteps: int, beta_start: float, beta_end: float) -> Tensor:
    """``scaled_linear_betas`` without the checks (see ``_linear``)."""
    sqrt_betas = torch.linspace(
        beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float64
    )
    return sqrt_betas**2


def cosine_betas(num_train_timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """Cosine schedule (Nichol & Dhariwal 2021, arXiv:2102.09672, Eq. 17).

    f(u) = cos²(((u + s) / (1 + s)) · π/2) on u = t/T ∈ [0, 1];  β_t = 1 - f((t+1)/T) / f(t/T),
    clipped at ``max_beta`` so that the last steps do not become singular.

    Returns:
        float64 (T,), every value in (0, max_beta].
    Raises:
        ValueError: unless num_train_timesteps is an int >= 1, s a finite number >= 0 and
            max_beta a number in (0, 1].
    """
    num_train_timesteps = _check_num_timesteps(num_train_timesteps)
    s = check_real(s, "s", lo=0.0)
    max_beta = check_real(
        max_beta, "max_beta", 0.0, 1.0, lo_open=True, expected="a number in (0, 1]"
    )
    u = torch.arange(num_train_timesteps + 1, dtype=torch.float64) / num_train_timesteps  # (T+1,)
    f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2  # (T+1,)
    betas = 1 - f[1:] / f[:-1]  # (T,)
    return betas.clamp(max=max_beta)


def sigmoid_betas(num_train_timesteps: int, beta_start: float, beta_end: float) -> Tensor:
    """β_t = sigmoid(linspace(-6, 6)) · (beta_end - beta_start) + beta_start. Float64 (T,).

    Raises:
        ValueError: as :func:`linear_betas`.
    """
    num_train_timesteps = _check_beta_args(num_train_timesteps, beta_start, beta_end)
    x = torch.linspace(-6, 6, num_train_timesteps, dtype=torch.float64)
    return torch.sigmoid(x) * (beta_end - beta_start) + beta_start


def rescale_zero_terminal_snr(betas: Tensor) -> Tensor:
    """Rescale betas so that the final SNR is exactly zero (Lin et al. 2023, Algorithm 1).

    sqrt(ᾱ) is shifted so its last value is 0 and scaled so its first value is unchanged;
    betas are then recovered from the new ᾱ.

    Args:
        betas: (T,) with T >= 2, values in (0, 1).
    Returns:
        betas of the same shape and dtype; the last one equals 1 (ᾱ_{T-1} = 0).
    Raises:
        ValueError: if betas is not a 1-D tensor of length >= 2, or sqrt(ᾱ) does not fall
            from its first to its last value (e.g. constant zero betas): the rescaling
            divides by sqrt(ᾱ_0) - sqrt(ᾱ_{T-1}) and would give NaN.
    """
    if not isinstance(betas, Tensor) or betas.ndim != 1 or betas.shape[0] < 2:
        got = tuple(betas.shape) if isinstance(betas, Tensor) else type(betas).__name__
        raise ValueError(f"betas must be a 1-D tensor of length >= 2 (T >= 2), got {got}")
    if not bool(((betas >= 0) & (betas <= 1)).all()):  # also false for NaN
        raise ValueError(
            f"betas must be in [0, 1], got values in [{float(betas.min())}, {float(betas.max())}]"
        )
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    alphas_bar_sqrt = alphas_cumprod.sqrt()  # sqrt(ᾱ_t)
    first, last = alphas_bar_sqrt[0].clone(), alphas_bar_sqrt[-1].clone()
    if not bool(first > last):  # one check; also false for NaN
        raise ValueError(
            f"betas must make sqrt(alpha_bar) fall (sqrt(alpha_bar_0) > sqrt(alpha_bar_T-1)) "
            f"to be rescaled to zero terminal SNR, got {float(first)} and {float(last)}"
        )
    alphas_bar_sqrt = (alphas_bar_sqrt - last) * first / (first - last)  # shift, then scale
    alphas_bar = alphas_bar_sqrt**2
    alphas = torch.cat([alphas_bar[:1], alphas_bar[1:] / alphas_bar[:-1]])  # undo cumprod
    return 1 - alphas


def check_betas_range(betas: Tensor) -> Tensor:
    """``betas`` as float64 on the CPU; ValueError unless every value is finite and in (0, 1]."""
    betas = betas.detach().to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(betas).all()) or not bool(((betas > 0) & (betas <= 1)).all()):
        raise ValueError(
            f"betas must be finite and in (0, 1], got range "
            f"[{float(betas.min())}, {float(betas.max())}]"
        )
    return betas


def shift_betas(betas: Tensor, snr_scale: float) -> Tensor:
    """The betas whose SNR is ``snr_scale`` times that of ``betas`` at every t.

    log SNR'(t) = log SNR(t) + log(snr_scale)  (Hoogeboom et al. 2023, arXiv:2301.11093,
    Sec. 3.1); ᾱ'_t = sigmoid(log SNR'(t)); β'_t = 1 - ᾱ'_t / ᾱ'_{t-1}.

    Args:
        betas: (T,) tensor, T >= 1, finite values in (0, 1]; only the last may be 1 (zero
            terminal SNR), and it stays 1. Any device; the work is done in float64 on the CPU.
        snr_scale: positive finite factor on the SNR; 1 returns the same ᾱ.
    Returns:
        float64 (T,) CPU betas in (0, 1], with ᾱ' strictly decreasing and in (0, 1) (the
        last may be 0 if the input's was).
    Raises:
        TypeError: if betas is not a tensor.
        ValueError: if betas is not a non-empty 1-D tensor of finite values in (0, 1] with
            1 only at the end, if snr_scale is not a positive finite number, or if the
            shift is so large that ᾱ' rounds to 0 or 1 in float64 at some t (roughly
            snr_scale > 1e12 or < 1e-15 for the usual schedules).
    """
    snr_scale = check_real(
        snr_scale, "snr_scale", lo=0.0, lo_open=True, expected="a positive finite number"
    )
    if not isinstance(betas, Tensor):
        raise TypeError(f"betas must be a torch.Tensor, got {type(betas).__name__}")
    if betas.ndim != 1 or betas.numel() == 0:
        raise ValueError(
            f"betas must be a non-empty 1-D (T,) tensor, got shape {tuple(betas.shape)}"
        )
    betas = check_betas_range(betas)
    if bool((betas[:-1] == 1).any()):
        raise ValueError("betas may equal 1 only at the last step (zero terminal SNR)")
    zero_terminal = bool(betas[-1] == 1)
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)  # ᾱ_t, (T,)
    log_snr = torch.log(alphas_cumprod) - torch.log1p(-alphas_cumprod)  # λ(t); -inf if ᾱ = 0
    log_snr_shifted = log_snr + math.log(snr_scale)  # λ'(t)
    # log ᾱ'_t = log sigmoid(λ'), computed in log space so that tiny β' keep their precision
    log_alphas_cumprod = F.logsigmoid(log_snr_shifted)  # (T,)
    zero = torch.zeros(1, dtype=torch.float64)
    log_alphas_cumprod_prev = torch.cat([zero, log_alphas_cumprod[:-1]])  # log ᾱ'_{t-1}
    # β'_t = 1 - exp(log ᾱ'_t - log ᾱ'_{t-1})
    shifted = -torch.expm1(log_alphas_cumprod - log_alphas_cumprod_prev)  # (T,)
    # the schedule is rebuilt as cumprod(1 - β'): it must stay strictly inside (0, 1)
    rebuilt = torch.cumprod(1.0 - shifted, dim=0)
    body = rebuilt[:-1] if zero_terminal else rebuilt
    bad = ~((body > 0) & (body < 1)) | ~((1.0 - shifted[: len(body)]) < 1.0)
    if bool(bad.any()):
        t_bad = int(torch.nonzero(bad)[0])
        raise ValueError(
            f"snr_scale={snr_scale:g} is too extreme for float64: ᾱ' rounds to "
            f"{float(body[t_bad]):g} at t={t_bad} (it must stay strictly inside (0, 1) and "
            "decrease); use a factor closer to 1"
        )
    return shifted
