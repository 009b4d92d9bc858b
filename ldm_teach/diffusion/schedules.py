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

Four β schedules (the functions live in ``betas.py``), each defined exactly as diffusers'
``DDPMScheduler`` defines it, so that a config here and the same config there give the
same numbers:

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
from dataclasses import dataclass

import torch
from torch import Tensor

from ldm_teach.argcheck import check_choice, check_real
from ldm_teach.diffusion.betas import (
    BETA_SCHEDULES,
    _check_num_timesteps,
    check_betas_range,
    cosine_betas,
    linear_betas,
    rescale_zero_terminal_snr,
    scaled_linear_betas,
    shift_betas,
    sigmoid_betas,
)


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
        _check_schedule_config(self)
        # plain Python numbers, so that the config is JSON as it is
        object.__setattr__(self, "num_train_timesteps", int(self.num_train_timesteps))
        object.__setattr__(self, "snr_scale", float(self.snr_scale))


def _check_schedule_config(config: ScheduleConfig) -> None:
    """ValueError naming the first field of ``config`` that is out of range."""
    T = config.num_train_timesteps
    _check_num_timesteps(T)  # an int in [1, MAX_NUM_TIMESTEPS]
    check_choice(config.beta_schedule, "beta_schedule", BETA_SCHEDULES)
    if not 0.0 < config.beta_start < 1.0:
        raise ValueError(f"beta_start must be in (0, 1), got {config.beta_start}")
    if not 0.0 < config.beta_end < 1.0:
        raise ValueError(f"beta_end must be in (0, 1), got {config.beta_end}")
    if config.beta_start > config.beta_end:
        raise ValueError(
            f"beta_start must be <= beta_end, got beta_start={config.beta_start}, "
            f"beta_end={config.beta_end}"
        )
    if not isinstance(config.rescale_betas_zero_snr, bool):
        raise ValueError(
            f"rescale_betas_zero_snr must be a bool, got {config.rescale_betas_zero_snr!r}"
        )
    if config.rescale_betas_zero_snr and T < 2:
        raise ValueError("rescale_betas_zero_snr needs num_train_timesteps >= 2, got 1")
    check_real(
        config.snr_scale, "snr_scale", lo=0.0, lo_open=True, expected="a positive finite number"
    )


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
