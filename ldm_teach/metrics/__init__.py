"""Metrics for reconstructions, latents, samples and compute: PSNR, SSIM, latent
statistics, the course digits classifier, FLOPs and step times."""

from ldm_teach.metrics.classifier import DigitsClassifier
from ldm_teach.metrics.compute import (
    attention_matrix_bytes,
    chapter_memory_estimate_gb,
    count_flops,
    time_training_step,
)
from ldm_teach.metrics.image import psnr, ssim
from ldm_teach.metrics.latents import latent_stats
from ldm_teach.metrics.perceptual import (
    LPIPSMetric,
    lpips_available,
    lpips_distance,
    lpips_weights_path,
)

__all__ = [
    "DigitsClassifier",
    "attention_matrix_bytes",
    "chapter_memory_estimate_gb",
    "count_flops",
    "latent_stats",
    "psnr",
    "ssim",
    "time_training_step",
    "LPIPSMetric",
    "lpips_available",
    "lpips_distance",
    "lpips_weights_path",
]
