"""Autoencoder objectives in the form :func:`ldm_teach.training.train` calls them.

``train`` calls ``loss_fn(model, batch, generator) -> scalar`` once per micro-batch. The
two classes here wrap the stage-1 losses of :mod:`ldm_teach.autoencoders` in that form and
keep a log of each call's parts, so that a notebook can plot, say, the codebook
perplexity of a VQ run next to its loss:

- :class:`KLObjective`: L1 reconstruction + kl_weight * KL, with a posterior sample
  drawn from ``generator`` (Rombach et al. 2022, arXiv:2112.10752, Sec. 3.1;
  :func:`~ldm_teach.autoencoders.autoencoder_kl_loss`);
- :class:`VQObjective`: L1 reconstruction + the quantiser's codebook and commitment
  terms (van den Oord et al. 2017, arXiv:1711.00937, Eq. 3;
  :func:`~ldm_teach.autoencoders.vq_vae_loss`).

Use one instance per run: the log grows with every call.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ldm_teach.argcheck import check_real
from ldm_teach.autoencoders import VQVAE, AutoencoderKL, autoencoder_kl_loss, vq_vae_loss


def _images(batch: tuple[Tensor, ...]) -> Tensor:
    if not isinstance(batch, (tuple, list)) or not batch:
        raise ValueError(
            f"batch must be a tuple whose first entry holds the images, got {type(batch).__name__}"
        )
    return batch[0]


class KLObjective:
    """``loss_fn`` for a KL autoencoder: ``autoencoder_kl_loss(model, batch[0], kl_weight)``.

    Args:
        kl_weight: weight of the KL term (summed over latent elements, averaged over the
            batch), a finite number >= 0; 1e-6 as in LDM.
    Attributes:
        logs: {"rec": [...], "kl": [...]}, one float per call (mean |x - x_hat| and the mean
            KL per image in nats).
    Raises:
        ValueError: naming ``kl_weight`` if it is negative, not finite or not a number.
    """

    def __init__(self, kl_weight: float = 1e-6) -> None:
        self.kl_weight = check_real(kl_weight, "kl_weight", lo=0.0)
        self.logs: dict[str, list[float]] = {"rec": [], "kl": []}

    def __call__(
        self, model: AutoencoderKL, batch: tuple[Tensor, ...], generator: torch.Generator
    ) -> Tensor:
        """The scalar loss on the images ``batch[0]`` (B, C, H, W) in [-1, 1]; the
        posterior sample is drawn with ``generator``."""
        if not isinstance(model, AutoencoderKL):
            raise TypeError(f"model must be an AutoencoderKL, got {type(model).__name__}")
        loss, parts = autoencoder_kl_loss(
            model, _images(batch), self.kl_weight, generator=generator
        )
        for key, values in self.logs.items():
            values.append(parts[key])
        return loss


class VQObjective:
    """``loss_fn`` for a VQ autoencoder: ``vq_vae_loss(model, batch[0])``.

    Attributes:
        logs: {"rec": [...], "vq": [...], "perplexity": [...], "usage": [...]}, one float
            per call: the reconstruction and quantiser losses, the perplexity of the
            batch's code usage (1 to num_codes) and the fraction of codes it used.
    """

    def __init__(self) -> None:
        self.logs: dict[str, list[float]] = {"rec": [], "vq": [], "perplexity": [], "usage": []}

    def __call__(
        self, model: VQVAE, batch: tuple[Tensor, ...], generator: torch.Generator | None = None
    ) -> Tensor:
        """The scalar loss on the images ``batch[0]``; ``generator`` is unused (the VQ loss
        draws nothing at random) and accepted for ``train``'s signature."""
        if not isinstance(model, VQVAE):
            raise TypeError(f"model must be a VQVAE, got {type(model).__name__}")
        loss, parts = vq_vae_loss(model, _images(batch))
        for key, values in self.logs.items():
            values.append(float(parts[key]))
        return loss
