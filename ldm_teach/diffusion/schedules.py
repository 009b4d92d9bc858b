"""Noise schedules for the diffusion forward process (Ho et al. 2020, arXiv:2006.11239).

A schedule is a list of T variances β_0 … β_{T-1} (0-indexed, as in code). Everything the
forward process and the samplers need follows from it:

    α_t   = 1 - β_t                                   (Ho et al. 2020, Sec. 2)
    ᾱ_t   = ∏_{s<=t} α_s                              (Ho et al. 2020, Eq. 4)
    SNR(t) = ᾱ_t / (1 - ᾱ_t)                          (Kingma et al. 2021, arXiv:2107.00630, Eq. 1)
    β̃_t   = (1 - ᾱ_{t-1}) / (1 - ᾱ_t) · β_t           (Ho et al. 2020, Eq. 7; ᾱ_{-1} = 1)
    μ̃_t   = coef1 · x0 + coef2 · x_t,
            coef1 = β_t sqrt(ᾱ_{t-1}) / (1 - ᾱ_t),
            coef2 = sqrt(α_t) (1 - ᾱ_{t-1}) / (1 - ᾱ_t)  (Ho et al. 2020, Eq. 7)

Four β schedules, each defined exactly as diffusers' ``DDPMScheduler`` defines it, so that a
config here and the same config there give the same numbers:

- ``"linear"``: β linear from ``beta_start`` to ``beta_end`` (Ho et al. 2020, Sec. 4).
- ``"scaled_linear"``: sqrt(β) linear, then squared (the Latent/Stable Diffusion schedule,
  Rombach et al. 2022, arXiv:2112.10752; typically beta_start=0.00085, beta_end=0.012).
- ``"cosine"``: ᾱ(t) = cos²(((t/T + s)/(1 + s)) π/2), s = 0.008, β clipped at 0.999
  (Nichol & Dhariwal 2021, arXiv:2102.09672, Eq. 17; diffusers calls it "squaredcos_cap_v2").
- ``"sigmoid"``: β = sigmoid(linspace(-6, 6)) scaled into [beta_start, beta_end]
  (GeoDiff, Xu et al. 2022, arXiv:2203.02923).

Optionally the betas are rescaled to zero terminal SNR (Lin et al. 2023, arXiv:2305.08891,
Algorithm 1), so that x_{T-1} is pure noise, as it is at sampling time, and then shifted in
log-SNR by ``log(snr_scale)`` (Hoogeboom et al. 2023, arXiv:2301.11093; ``diffusion/shift.py``).

All tensors here are float64 on the CPU: the schedule is small and its values span many
orders of magnitude (ᾱ_{T-1} ≈ 4e-5 for the linear schedule), so the course keeps full
precision and casts to the data's dtype only at the point of use (see ``forward.extract``).
diffusers stores float32; the parity tests compare to float32 precision.
"""

from __future__ import annotations

import copy
import math
import numbers
from dataclasses import dataclass

import torch
from torch import Tensor

BETA_SCHEDULES = ("linear", "scaled_linear", "cosine", "sigmoid")


@dataclass(frozen=True)
class ScheduleConfig:
    """Configuration of a discrete noise schedule (defaults: Ho et al. 2020, Sec. 4)."""

    num_train_timesteps: int = 1000  # T, number of diffusion steps; t runs over 0 .. T-1
    beta_schedule: str = "linear"  # one of "linear", "scaled_linear", "cosine", "sigmoid"
    beta_start: float = 1e-4  # β_0 (unused by "cosine")
    beta_end: float = 0.02  # β_{T-1} (unused by "cosine")
    rescale_betas_zero_snr: bool = False  # rescale so that ᾱ_{T-1} = 0 (Lin et al. 2023)
    # multiply SNR(t) by this at every t, i.e. shift log-SNR by log(snr_scale) (Hoogeboom et
    # al. 2023, Sec. 3.1; see diffusion/shift.py); 1.0 leaves the betas above unchanged
    snr_scale: float = 1.0

    def __post_init__(self) -> None:
        T = self.num_train_timesteps
        if isinstance(T, bool) or not isinstance(T, int) or T < 1:
            raise ValueError(f"num_train_timesteps must be an int >= 1, got {T!r}")
        _check_num_timesteps(T)  # and at most MAX_NUM_TIMESTEPS
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ValueError(
                f"beta_schedule must be one of {BETA_SCHEDULES}, got {self.beta_schedule!r}"
            )
        if not 0.0 < self.beta_start < 1.0:
            raise ValueError(f"beta_start must be in (0, 1), got {self.beta_start}")
        if not 0.0 < self.beta_end < 1.0:
            raise ValueError(f"beta_end must be in (0, 1), got {self.beta_end}")
        if self.beta_start > self.beta_end:
            raise ValueError(
                f"beta_start must be <= beta_end, got beta_start={self.beta_start}, "
                f"beta_end={self.beta_end}"
            )
        if not isinstance(self.rescale_betas_zero_snr, bool):
            raise ValueError(
                f"rescale_betas_zero_snr must be a bool, got {self.rescale_betas_zero_snr!r}"
            )
        if self.rescale_betas_zero_snr and T < 2:
            raise ValueError("rescale_betas_zero_snr needs num_train_timesteps >= 2, got 1")
        if (
            isinstance(self.snr_scale, bool)
            or not isinstance(self.snr_scale, numbers.Real)
            or not math.isfinite(self.snr_scale)
            or self.snr_scale <= 0
        ):
            raise ValueError(
                f"snr_scale must be a positive finite number, got {self.snr_scale!r}"
            )
        object.__setattr__(self, "snr_scale", float(self.snr_scale))  # plain float for JSON


#: The most training timesteps a schedule may have: the UNet accepts t up to 1e5, and a
#: schedule of 10**9 steps would need gigabytes per array (DDPM and SD use 1000).
MAX_NUM_TIMESTEPS = 100_000


def _check_num_timesteps(num_train_timesteps: int) -> int:
    """``num_train_timesteps`` as an int; ValueError unless an integer in [1, 100000]."""
    T = num_train_timesteps
    if isinstance(T, bool) or not isinstance(T, numbers.Integral) or T < 1:
        raise ValueError(f"num_train_timesteps must be an int >= 1, got {T!r}")
    if T > MAX_NUM_TIMESTEPS:
        raise ValueError(f"num_train_timesteps must be at most {MAX_NUM_TIMESTEPS} (DDPM and "
                         f"Stable Diffusion use 1000), got {T!r}")
    return int(T)


def _check_open_unit(name: str, value: float) -> float:
    """``value`` as a float; ValueError naming ``name`` unless it is a finite number in (0, 1)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not 0.0 < value < 1.0
    ):
        raise ValueError(f"{name} must be a finite number in (0, 1), got {value!r}")
    return float(value)


def _check_beta_args(num_train_timesteps: int, beta_start: float, beta_end: float) -> int:
    """Validate the arguments shared by the linear, scaled-linear and sigmoid schedules."""
    _check_open_unit("beta_start", beta_start)
    _check_open_unit("beta_end", beta_end)
    if beta_end < beta_start:  # noise must grow with t; ScheduleConfig refuses it too
        raise ValueError(f"beta_end must be >= beta_start, got beta_start={beta_start!r}, "
                         f"beta_end={beta_end!r}")
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
    if isinstance(s, bool) or not isinstance(s, numbers.Real) or not math.isfinite(s) or s < 0:
        raise ValueError(f"s must be a finite number >= 0, got {s!r}")
    if isinstance(max_beta, bool) or not isinstance(max_beta, numbers.Real) or not (
        0.0 < max_beta <= 1.0
    ):
        raise ValueError(f"max_beta must be a number in (0, 1], got {max_beta!r}")
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
        raise ValueError(f"betas must be in [0, 1], got values in [{float(betas.min())}, "
                         f"{float(betas.max())}]")
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


def make_betas(config: ScheduleConfig) -> Tensor:
    """The (T,) float64 betas that ``config`` describes."""
    T = config.num_train_timesteps
    if config.beta_schedule == "linear":
        betas = linear_betas(T, config.beta_start, config.beta_end)
    elif config.beta_schedule == "scaled_linear":
        betas = scaled_linear_betas(T, config.beta_start, config.beta_end)
    elif config.beta_schedule == "cosine":
        betas = cosine_betas(T)
    else:  # "sigmoid"; ScheduleConfig has validated the name
        betas = sigmoid_betas(T, config.beta_start, config.beta_end)
    if config.rescale_betas_zero_snr:
        betas = rescale_zero_terminal_snr(betas)
    if config.snr_scale != 1.0:
        from ldm_teach.diffusion.shift import shift_betas  # shift.py imports this module

        betas = shift_betas(betas, config.snr_scale)
    return betas


class NoiseSchedule:
    """All per-timestep coefficients of a discrete diffusion process, as float64 (T,) tensors.

    Built by ``NoiseSchedule(config)`` (or ``NoiseSchedule.from_betas(betas, config)``). Index
    ``t`` runs over 0 .. T-1; ``alphas_cumprod_prev`` shifts by one with ᾱ_{-1} = 1.
    Attribute names follow Ho et al.'s code and diffusers.

    Attributes:
        config, num_train_timesteps
        betas (β_t), alphas (α_t), alphas_cumprod (ᾱ_t), alphas_cumprod_prev (ᾱ_{t-1})
        sqrt_alphas_cumprod, sqrt_one_minus_alphas_cumprod  (used by q_sample, Eq. 4)
        sqrt_recip_alphas_cumprod, sqrt_recipm1_alphas_cumprod  (x0 from eps, Eq. 15)
        posterior_variance (β̃_t, Eq. 7), posterior_log_variance_clipped (log β̃_t with
        β̃_0 = 0 replaced by β̃_1), posterior_mean_coef1, posterior_mean_coef2 (Eq. 7)
    """

    def __init__(self, config: ScheduleConfig) -> None:
        self._set_betas(config, make_betas(config))

    @classmethod
    def from_betas(cls, betas: Tensor, config: ScheduleConfig) -> NoiseSchedule:
        """A schedule from explicit betas, e.g. a shifted schedule (``diffusion/shift.py``).

        Args:
            betas: (T,) values in (0, 1], with T = config.num_train_timesteps; cast to float64.
            config: kept as ``.config`` for reference (T, and the schedule the betas came
                from); its beta fields need not describe ``betas``.
        Raises:
            ValueError: if betas is not a finite (T,) tensor with values in (0, 1].
        """
        T = config.num_train_timesteps
        if not isinstance(betas, Tensor) or betas.shape != (T,):
            got = tuple(betas.shape) if isinstance(betas, Tensor) else type(betas).__name__
            raise ValueError(f"betas must be a tensor of shape ({T},), got {got}")
        betas = check_betas_range(betas)
        schedule = cls.__new__(cls)
        schedule._set_betas(config, betas)
        return schedule

    def _set_betas(self, config: ScheduleConfig, betas: Tensor) -> None:
        """Derive every coefficient from the (T,) float64 betas."""
        self.config = config
        self.num_train_timesteps = config.num_train_timesteps

        self.betas = betas
        self.alphas = 1.0 - betas  # α_t
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)  # ᾱ_t
        one = torch.ones(1, dtype=torch.float64)
        self.alphas_cumprod_prev = torch.cat([one, self.alphas_cumprod[:-1]])  # ᾱ_{t-1}

        # q(x_t | x0), Eq. 4, and its inversion for x0
        self.sqrt_alphas_cumprod = self.alphas_cumprod.sqrt()
        self.sqrt_one_minus_alphas_cumprod = (1.0 - self.alphas_cumprod).sqrt()
        self.sqrt_recip_alphas_cumprod = (1.0 / self.alphas_cumprod).sqrt()
        self.sqrt_recipm1_alphas_cumprod = (1.0 / self.alphas_cumprod - 1.0).sqrt()

        # q(x_{t-1} | x_t, x0), Eq. 6-7
        one_minus_ac = 1.0 - self.alphas_cumprod
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / one_minus_ac
        # β̃_0 = 0, so its log is -inf; replace it by β̃_1 as Ho et al.'s code does
        log_source = (
            torch.cat([self.posterior_variance[1:2], self.posterior_variance[1:]])
            if self.num_train_timesteps > 1
            else self.posterior_variance.clamp(min=1e-20)
        )
        self.posterior_log_variance_clipped = torch.log(log_source)
        self.posterior_mean_coef1 = betas * self.alphas_cumprod_prev.sqrt() / one_minus_ac
        self.posterior_mean_coef2 = (
            (1.0 - self.alphas_cumprod_prev) * self.alphas.sqrt() / one_minus_ac
        )

    def _tensor_names(self) -> list[str]:
        return [k for k, v in vars(self).items() if isinstance(v, Tensor)]

    def _alphas_cumprod_at(self, t: Tensor) -> Tensor:
        """ᾱ_t after checking that t is an integer tensor with values in [0, T-1].

        (Without the check a negative t would index from the end: t = -1 gives ᾱ_{T-1}.)
        """
        T = self.num_train_timesteps
        if not isinstance(t, Tensor):
            raise ValueError(f"t must be an integer torch.Tensor, got {type(t).__name__}")
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype in (torch.bool, torch.uint8):
            raise ValueError(
                f"t must be an integer tensor (torch.int64; not uint8 or bool, which index "
                f"as a boolean mask), got dtype {t.dtype}"
            )
        t = t.to(self.alphas_cumprod.device, torch.long)
        if t.numel() > 0:
            lo, hi = torch.stack(torch.aminmax(t)).tolist()  # one pass, one read
            if lo < 0 or hi > T - 1:
                raise ValueError(f"t must be integers in [0, {T - 1}], got {lo if lo < 0 else hi}")
        return self.alphas_cumprod[t]

    def snr(self, t: Tensor) -> Tensor:
        """Signal-to-noise ratio ᾱ_t / (1 - ᾱ_t) (Kingma et al. 2021, Eq. 1).

        Args:
            t: integer timesteps of any shape, values in [0, T-1].
        Returns:
            float64 tensor of t's shape, on the schedule's device; 0 where ᾱ_t = 0.
        Raises:
            ValueError: if t is not an integer tensor or a value is outside [0, T-1].
        """
        ac = self._alphas_cumprod_at(t)
        return ac / (1.0 - ac)

    def log_snr(self, t: Tensor) -> Tensor:
        """log SNR(t) = log ᾱ_t - log(1 - ᾱ_t), computed stably; float64, -inf where ᾱ_t = 0.

        Raises:
            ValueError: as :meth:`snr`.
        """
        ac = self._alphas_cumprod_at(t)
        return torch.log(ac) - torch.log1p(-ac)

    def to(self, device: torch.device | str) -> NoiseSchedule:
        """A copy with every tensor moved to ``device`` (dtypes stay float64)."""
        out = copy.copy(self)
        for name in self._tensor_names():
            setattr(out, name, getattr(self, name).to(device))
        return out

    def __len__(self) -> int:
        return self.num_train_timesteps

    def __repr__(self) -> str:
        return f"NoiseSchedule({self.config})"
