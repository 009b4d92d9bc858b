"""Diffusion: noise schedules, the forward process, DDPM and DDIM samplers, guidance.

betas.py      β schedules (linear, scaled-linear, cosine, sigmoid) and their transforms
schedules.py  ScheduleConfig and NoiseSchedule: ᾱ, SNR, posterior coefficients (Ho et al. 2020)
forward.py    q_sample (Eq. 4), eps/x0/v conversions, q(x_{t-1} | x_t, x0) (Eq. 6-7)
sampling.py   what both samplers share (model-function type, x_T, checks)
ddpm.py       ancestral sampler (Ho et al. 2020, Algorithm 2)
ddim.py       DDIM sampler (Song et al. 2020, Eq. 12, 16)
guidance.py   classifier-free guidance (Ho & Salimans 2022)
weighting.py  min-SNR-γ loss weights (Hang et al. 2023)
shift.py      log-SNR shift of a schedule for latents / resolution (Hoogeboom et al. 2023)
snr.py        the SNR data of std σ see, in dB: from a schedule, or measured on data
"""

from ldm_teach.diffusion.betas import (
    cosine_betas,
    linear_betas,
    rescale_zero_terminal_snr,
    scaled_linear_betas,
    shift_betas,
    sigmoid_betas,
)
from ldm_teach.diffusion.ddim import ddim_sample, ddim_step, ddim_timesteps
from ldm_teach.diffusion.ddpm import ddpm_sample, ddpm_step
from ldm_teach.diffusion.forward import (
    PREDICTION_TYPES,
    extract,
    gaussian_noise,
    get_v,
    predict_eps_from_v,
    predict_eps_from_x0,
    predict_x0_and_eps,
    predict_x0_from_eps,
    predict_x0_from_v,
    q_posterior_mean_variance,
    q_sample,
)
from ldm_teach.diffusion.guidance import classifier_free_guidance, rescale_guidance
from ldm_teach.diffusion.schedules import NoiseSchedule, ScheduleConfig
from ldm_teach.diffusion.shift import (
    chapter_heuristic_betas,
    latent_std_snr_scale,
    resolution_snr_scale,
    shifted_schedule,
)
from ldm_teach.diffusion.snr import effective_snr_db, measured_snr_db
from ldm_teach.diffusion.weighting import min_snr_weight

__all__ = [
    "PREDICTION_TYPES",
    "NoiseSchedule",
    "ScheduleConfig",
    "classifier_free_guidance",
    "rescale_guidance",
    "cosine_betas",
    "ddim_sample",
    "ddim_step",
    "ddim_timesteps",
    "ddpm_sample",
    "ddpm_step",
    "effective_snr_db",
    "extract",
    "gaussian_noise",
    "get_v",
    "linear_betas",
    "measured_snr_db",
    "min_snr_weight",
    "predict_eps_from_v",
    "predict_eps_from_x0",
    "predict_x0_and_eps",
    "predict_x0_from_eps",
    "predict_x0_from_v",
    "q_posterior_mean_variance",
    "q_sample",
    "rescale_zero_terminal_snr",
    "scaled_linear_betas",
    "sigmoid_betas",
    "chapter_heuristic_betas",
    "latent_std_snr_scale",
    "resolution_snr_scale",
    "shift_betas",
    "shifted_schedule",
]
