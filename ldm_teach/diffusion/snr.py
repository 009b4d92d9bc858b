"""The signal-to-noise ratio that data actually experience, in decibels (Sec. 10.3.2).

A schedule's SNR(t) = ᾱ_t / (1 - ᾱ_t) (Kingma et al. 2021, arXiv:2107.00630, Eq. 1)
assumes data of unit mean square. Data of mean square σ² mixed as
x_t = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε have signal power σ² ᾱ_t and noise power 1 - ᾱ_t:

    SNR_eff(t) = σ² · SNR(t),        in dB: 10 log10 SNR_eff(t) = 10 log10 σ² + 10 log10 SNR(t)

so a factor σ² on the data is a constant shift of the log-SNR (Hoogeboom et al. 2023,
arXiv:2301.11093, Sec. 3), and averaging s x s blocks of a noisy image, which divides the
noise power by s², raises it by about 10 log10 s² dB.

:func:`effective_snr_db` is the closed form from a schedule; :func:`measured_snr_db`
measures the same ratio on actual data and seeded noise, optionally after average pooling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ldm_teach.argcheck import check_int, check_real
from ldm_teach.diffusion.schedules import NoiseSchedule

__all__ = ["effective_snr_db", "measured_snr_db"]


def effective_snr_db(schedule: NoiseSchedule, t: Tensor, data_std: float = 1.0) -> Tensor:
    """10 log10(σ² ᾱ_t / (1 - ᾱ_t)): the SNR in dB that data of std σ see at steps t.

    Args:
        schedule: the noise schedule.
        t: integer timesteps of any shape, values in [0, T-1].
        data_std: σ, the root mean square of the data (1 for unit-variance latents, about
            2.25 for the unscaled digits-kl-f4 latents), a positive finite number.
    Returns:
        float64 tensor of t's shape, in dB (-inf where ᾱ_t = 0).
    Raises:
        ValueError: if data_std is not a positive finite number, or as
            ``NoiseSchedule.snr`` for t.
    """
    data_std = check_real(data_std, "data_std", lo=0.0, lo_open=True)
    # log_snr is computed stably (log ᾱ - log1p(-ᾱ)); 10 log10 x = (10 / ln 10) ln x
    return 10.0 / math.log(10.0) * schedule.log_snr(t) + 20.0 * math.log10(data_std)


def _check_data(data: Tensor, pool: int) -> None:
    if not isinstance(data, Tensor) or not data.is_floating_point() or data.ndim != 4:
        got = (
            f"{data.dtype} {tuple(data.shape)}" if isinstance(data, Tensor) else type(data).__name__
        )
        raise ValueError(f"data must be a floating-point (B, C, H, W) tensor, got {got}")
    if data.shape[-1] % pool or data.shape[-2] % pool:
        raise ValueError(
            f"pool must divide the data's height and width {tuple(data.shape[-2:])}, got {pool}"
        )
    if not bool(torch.isfinite(data).all()):
        raise ValueError("data contains NaN or infinite values")
    if not bool(data.abs().max() > 0):
        raise ValueError("data is all zeros: it has no signal to measure")


@torch.no_grad()
def measured_snr_db(data: Tensor, alpha_bar: float, *, seed: int = 0, pool: int = 1) -> float:
    """The SNR of sqrt(ᾱ) x_0 against sqrt(1 - ᾱ) ε, measured on ``data``, in dB.

    signal = sqrt(ᾱ) · data, noise = sqrt(1 - ᾱ) · ε with ε ~ N(0, I) drawn from
    ``torch.Generator().manual_seed(seed)`` in data's shape; both are average-pooled by
    ``pool`` (``pool=1``: not at all) before the mean squares are taken:

        10 log10( mean(pool(signal)²) / mean(pool(noise)²) ).

    For ``pool=1`` this estimates :func:`effective_snr_db` with σ² = mean(data²); pooling
    by s raises it by a little less than 10 log10 s² dB (the noise power falls by s², the
    signal's by less where the strokes are not constant over a block).

    Args:
        data: clean data x_0, (B, C, H, W) float, finite, not all zero.
        alpha_bar: ᾱ in (0, 1).
        seed: the seed of the noise, an int >= 0; equal seeds give equal noise.
        pool: the side s of the averaged blocks, an int >= 1 dividing H and W.
    Returns:
        the SNR in dB, a float.
    Raises:
        ValueError: for data of the wrong kind, alpha_bar outside (0, 1), a negative seed,
            or a pool that is not an int >= 1 dividing H and W.
    """
    alpha_bar = check_real(alpha_bar, "alpha_bar", lo=0.0, lo_open=True)
    if alpha_bar >= 1.0:
        raise ValueError(f"alpha_bar must be a number in (0, 1), got {alpha_bar!r}")
    seed = check_int(seed, "seed", lo=0)
    pool = check_int(pool, "pool", lo=1)
    _check_data(data, pool)
    noise = torch.randn(data.shape, generator=torch.Generator().manual_seed(seed))
    noise = noise.to(device=data.device, dtype=data.dtype)
    signal = alpha_bar**0.5 * data  # signal power: ᾱ · mean square of the data
    noise = (1 - alpha_bar) ** 0.5 * noise  # noise power: 1 - ᾱ
    if pool > 1:
        signal, noise = F.avg_pool2d(signal, pool), F.avg_pool2d(noise, pool)
    return 10 * torch.log10(signal.pow(2).mean() / noise.pow(2).mean()).item()
