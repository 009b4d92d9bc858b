"""A shipped latent-diffusion model measured live, next to the figures on its card.

A card records the sample quality of its model once (100 samples, 50 DDIM steps, guidance
2, seed ``EVAL_SEED``). :func:`live_measure` loads the model and measures fresh samples
with :func:`~ldm_teach.metrics.measure_ldm_samples` (by default a cheaper 50 samples at 25
steps), so a notebook can show that the card's numbers reproduce on the reader's machine.
"""

from __future__ import annotations

import os

from torch import nn

from ldm_teach.metrics.samples import EVAL_SEED, measure_ldm_samples
from ldm_teach.pretrained.cards import load_card
from ldm_teach.pretrained.registry import load_feature_net, load_latent_diffusion

__all__ = ["live_measure"]


def live_measure(
    name: str,
    num_inference_steps: int = 25,
    guidance_scale: float = 2.0,
    *,
    per_class: int = 5,
    seed: int = EVAL_SEED,
    feature_net: nn.Module | None = None,
    weights_dir: str | os.PathLike | None = None,
) -> dict:
    """Load the shipped latent-diffusion model ``name``, sample it and measure the samples.

    Sampling is DDIM with ``num_inference_steps`` steps and classifier-free guidance
    ``guidance_scale``, ``per_class`` digits of each of the 10 classes, the noise seeded by
    ``seed`` (the argument order and checks of ``measure_ldm_samples``).

    Args:
        name: a shipped class-conditional digits model, e.g. "digits-cmp-f4".
        num_inference_steps: DDIM steps, an int >= 1.
        guidance_scale: w of classifier-free guidance (1: conditional, 0: unconditional).
        per_class: samples per class, an int in [2, 200].
        seed: the seed of the starting noise, an int in [0, 2**63).
        feature_net: the DigitsFeatureNet of the Fréchet distance and the diversity;
            None loads the shipped ``digits-features`` (pass it in to load it once).
        weights_dir: where the checkpoint lies (None: the package's weights).
    Returns:
        {"model": the LatentDiffusion (eval mode, CPU),
         "live": measure_ldm_samples' dict ("classifier_accuracy" in [0, 1],
                 "frechet_distance" >= 0, "within_class_diversity" >= 0,
                 "sampling_wall_s" in seconds),
         "card": the card's "metrics" (the same keys, measured on 100 samples at the card's
                 steps, with "num_samples", "num_inference_steps", "guidance_scale", ...)}.
    Raises:
        ValueError: if ``name`` is not a latent-diffusion checkpoint or its card is damaged,
            and as ``measure_ldm_samples`` for per_class, seed, steps and guidance.
        FileNotFoundError: if the checkpoint is not there.
        TypeError: if feature_net is not a DigitsFeatureNet.
    """
    model = load_latent_diffusion(name, weights_dir).eval()
    if feature_net is None:
        feature_net = load_feature_net("digits-features")
    live = measure_ldm_samples(
        model,
        num_inference_steps,
        guidance_scale,
        feature_net=feature_net,
        seed=seed,
        per_class=per_class,
    )
    return {"model": model, "live": live, "card": load_card(name, weights_dir)["metrics"]}
