"""Metrics for reconstructions, latents, samples and compute: PSNR, SSIM, latent
statistics, the course digits classifier, sample quality, FLOPs and step times.

Metrics take the networks they need (a feature net, a classifier) as arguments: loading
shipped networks is :mod:`ldm_teach.pretrained`'s job.

image.py           PSNR and SSIM (torchmetrics)
perceptual.py      LPIPS (the lpips package)
features.py        the course's digits feature net and its FeatureDistance
classifier.py      the independent digits classifier (scikit-learn SVC)
samples.py         Fréchet distance, diversity, measure_ldm_samples for class-conditional LDMs
reconstruction.py  evaluate_autoencoder: PSNR/SSIM of deterministic reconstructions
latents.py         latent statistics
rate.py            bits per pixel of latents and JPEG, rate-distortion points
compute.py         FLOPs, step time, attention memory
step_cost.py       FLOPs and time of one UNet training step on a given input size (10.1.1)
roundtrip.py       autoencoder, pooled pixels and JPEG round trips on one footing (10.1.3)
label_probes.py    k-NN and linear probes: does a representation keep the label?
weights.py         parameter counts, spectral norms of convolutions
efficiency.py      pixel vs latent cost, measured side by side (Sec. 10.3.5)
diagnosis.py       diagnose_with_samples: diagnose's statistics and the samples' quality
anatomy.py         parameters by block and level, FLOPs on meta, weight memory (10.4.1)
inference.py       inference optimisations of text-to-image, speed and quality (Sec. 10.4.4)
"""

from ldm_teach.metrics.anatomy import (
    BLOCK_TYPES,
    anatomy_row,
    anatomy_rows,
    count_parameters,
    flops_by_operator,
    forward_flops,
    memory_bytes,
    parameters_by_block,
    parameters_by_level,
)
from ldm_teach.metrics.classifier import DigitsClassifier
from ldm_teach.metrics.compute import (
    attention_matrix_bytes,
    chapter_memory_estimate_gb,
    count_flops,
    time_training_step,
)
from ldm_teach.metrics.diagnosis import diagnose_with_samples
from ldm_teach.metrics.efficiency import CHAPTER_SPEEDUPS, measure_efficiency, relative_to
from ldm_teach.metrics.image import psnr, ssim
from ldm_teach.metrics.inference import InferenceSetting, measure_inference
from ldm_teach.metrics.label_probes import knn_accuracy, linear_probe_accuracy
from ldm_teach.metrics.latents import latent_stats
from ldm_teach.metrics.perceptual import (
    LPIPSMetric,
    lpips_available,
    lpips_distance,
    lpips_weights_path,
)
from ldm_teach.metrics.reconstruction import evaluate_autoencoder
from ldm_teach.metrics.roundtrip import jpeg_patches_at_bpp, offset_share, roundtrip
from ldm_teach.metrics.samples import frechet_distance, measure_ldm_samples, within_class_diversity
from ldm_teach.metrics.step_cost import unet_step_cost
from ldm_teach.metrics.weights import conv_spectral_norms, parameter_count

__all__ = [
    "BLOCK_TYPES",
    "anatomy_row",
    "anatomy_rows",
    "count_parameters",
    "flops_by_operator",
    "forward_flops",
    "memory_bytes",
    "parameters_by_block",
    "parameters_by_level",
    "conv_spectral_norms",
    "jpeg_patches_at_bpp",
    "knn_accuracy",
    "linear_probe_accuracy",
    "offset_share",
    "parameter_count",
    "roundtrip",
    "unet_step_cost",
    "CHAPTER_SPEEDUPS",
    "diagnose_with_samples",
    "InferenceSetting",
    "measure_inference",
    "evaluate_autoencoder",
    "frechet_distance",
    "measure_efficiency",
    "measure_ldm_samples",
    "relative_to",
    "within_class_diversity",
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
