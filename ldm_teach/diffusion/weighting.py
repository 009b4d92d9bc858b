"""Per-timestep loss weights for diffusion training.

The plain DDPM objective ||eps - eps_hat||^2 (Ho et al. 2020, Eq. 14) weights timesteps
implicitly by the prediction type. Min-SNR-γ (Hang et al. 2023, arXiv:2303.09556, Eq. 9-10)
caps the weight of low-noise timesteps, which otherwise dominate and slow convergence:

    the x0-space loss weight is min(SNR(t), γ); expressed for each target:
        eps target:  w(t) = min(SNR, γ) / SNR
        v target:    w(t) = min(SNR, γ) / (SNR + 1)
        x0 target:   w(t) = min(SNR, γ)

Guard at SNR = 0 (the last step of a zero-terminal-SNR schedule): for the eps target the
ratio min(SNR, γ) / SNR tends to 1 as SNR -> 0, and that limit is returned instead of 0/0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ldm_teach.diffusion.forward import PREDICTION_TYPES


def min_snr_weight(snr: Tensor, prediction_type: str = "epsilon", gamma: float = 5.0) -> Tensor:
    """Min-SNR-γ loss weight for each sample (Hang et al. 2023, Eq. 9-10).

    Args:
        snr: SNR(t) = ᾱ_t / (1 - ᾱ_t) per sample, (B,), values in [0, inf).
        prediction_type: "epsilon", "v_prediction" or "sample" (x0).
        gamma: the cap γ > 0 (5 in the paper).
    Returns:
        weights (B,), same dtype as ``snr``; finite for every SNR in [0, inf).
    Raises:
        ValueError: for a negative SNR, a non-positive gamma or an unknown prediction type.
    """
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(
            f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}"
        )
    if not gamma > 0:
        raise ValueError(f"gamma must be positive, got {gamma}")
    if not isinstance(snr, Tensor):
        raise ValueError(
            f"snr must be a torch.Tensor of shape (B,), got {type(snr).__name__} "
            "(wrap a number with torch.tensor([value]))"
        )
    if bool((snr < 0).any()):
        raise ValueError("snr must be >= 0")
    capped = torch.clamp(snr, max=gamma)  # min(SNR, γ)
    if prediction_type == "sample":
        return capped
    if prediction_type == "v_prediction":
        return capped / (snr + 1.0)
    # eps: min(SNR, γ) / SNR, which is exactly 1 wherever SNR <= γ (including SNR = 0)
    return torch.where(snr <= gamma, torch.ones_like(snr), gamma / snr)
