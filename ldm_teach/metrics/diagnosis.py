"""``diagnose`` and the symptom side by side: a model's statistics and its samples' quality
(course Sec. 10.3.6, the debugging clinic).

:func:`~ldm_teach.models.diagnose` measures what can go wrong inside a latent diffusion
model (latent scale, reconstruction, noise-prediction error per timestep band);
:func:`~ldm_teach.metrics.measure_ldm_samples` measures what a user sees (accuracy, Fréchet
distance, diversity of guided samples). A failure that lives in the sampler (a wrong
schedule) leaves the first healthy and only the second bad, so a diagnosis needs both.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ldm_teach.argcheck import check_int
from ldm_teach.metrics.samples import EVAL_SEED, _check_net, measure_ldm_samples
from ldm_teach.models import LatentDiffusion, diagnose

__all__ = ["diagnose_with_samples"]


def diagnose_with_samples(
    ldm: LatentDiffusion,
    images: Tensor,
    labels: Tensor,
    *,
    feature_net: nn.Module,
    num_buckets: int = 5,
    seed: int = 0,
    num_inference_steps: int = 25,
    guidance_scale: float = 2.0,
    per_class: int = 5,
    sample_seed: int = EVAL_SEED,
) -> dict[str, Any]:
    """``diagnose(ldm, images, labels)`` plus the quality of guided samples of ``ldm``.

    Args:
        ldm: a 10-class digits :class:`~ldm_teach.models.LatentDiffusion` (1 x 32 x 32).
        images: (B, 1, 32, 32) float test digits in [-1, 1], B >= 1; labels: (B,) int64.
        feature_net: the DigitsFeatureNet of the Fréchet distance and the diversity.
        num_buckets: timestep bands of diagnose's eps-error, an int in [1, T].
        seed: seeds diagnose's generator (``torch.Generator().manual_seed(seed)``), an
            int >= 0.
        num_inference_steps, guidance_scale, per_class, sample_seed: the samples, as
            ``measure_ldm_samples``'s arguments (DDIM steps, w, samples per class, seed).
    Returns:
        diagnose's dict ("latent_std", "latent_scale_ok", "latent_channel_std",
        "recon_psnr" in dB, "eps_mse" as (t_lo, t_hi, mse) per band, "sample": its 8
        samples, ...) with one more key, "sample_metrics": measure_ldm_samples' dict
        ("classifier_accuracy" in [0, 1], "frechet_distance" >= 0,
        "within_class_diversity" >= 0, "sampling_wall_s" in seconds).
    Raises:
        ValueError: as ``diagnose`` (images, labels, num_buckets) and
            ``measure_ldm_samples`` (per_class, sample_seed, steps, guidance); for a
            negative seed.
        TypeError: if feature_net is not a DigitsFeatureNet.
    """
    seed = check_int(seed, "seed", lo=0)
    _check_net(feature_net)  # before diagnose's work, not after
    generator = torch.Generator().manual_seed(seed)
    report = diagnose(ldm, images, labels, num_buckets=num_buckets, generator=generator)
    report["sample_metrics"] = measure_ldm_samples(
        ldm,
        num_inference_steps,
        guidance_scale,
        feature_net=feature_net,
        seed=sample_seed,
        per_class=per_class,
    )
    return report
