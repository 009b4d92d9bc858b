"""How well an autoencoder reconstructs held-out images: PSNR, SSIM and latent statistics.

The reconstructions are deterministic (the posterior mode μ(x) for a KL autoencoder, the
nearest codes for a VQ autoencoder), clamped to the image range [-1, 1], as in the LDM
paper's reconstruction tables (Rombach et al. 2022, arXiv:2112.10752, Tab. 8).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ldm_teach.argcheck import check_int
from ldm_teach.autoencoders import VQVAE, AutoencoderKL
from ldm_teach.data.digits import warn_if_unit_range
from ldm_teach.metrics.image import psnr, ssim


def reconstruct(model: AutoencoderKL | VQVAE, x: Tensor) -> tuple[Tensor, Tensor]:
    """(reconstruction clamped to [-1, 1], latent) of images ``x`` (B, C, H, W) in [-1, 1].

    The latent is the posterior mode (B, c, H/f, W/f) for a KL model and the quantized
    latent z_q for a VQ model. Raises TypeError for any other model.
    """
    if isinstance(model, VQVAE):
        z_q = model.quantize(model.encode(x)).z_q
        return model.decode(z_q).clamp(-1, 1), z_q
    if isinstance(model, AutoencoderKL):
        z = model.encode(x).mode()
        return model.decode(z).clamp(-1, 1), z
    raise TypeError(f"model must be an AutoencoderKL or a VQVAE, got {type(model).__name__}")


@torch.no_grad()
def evaluate_autoencoder(model: AutoencoderKL | VQVAE, images: Tensor, batch: int = 256) -> dict:
    """Mean PSNR and SSIM of deterministic reconstructions of ``images``, and latent stats.

    Args:
        model: a KL or VQ autoencoder (put in eval mode).
        images: (N, C, H, W) float images in [-1, 1], N >= 1.
        batch: images per forward pass, an int >= 1.
    Returns:
        {"psnr_db": dB (data range 2), "ssim": in [-1, 1], "latent_mean", "latent_std":
        of all latent values, "num_images": N}, rounded as the cards store them.
    Raises:
        ValueError: if batch is not an int >= 1, or as ``psnr``/``ssim`` for bad images.
        TypeError: if model is neither an AutoencoderKL nor a VQVAE.
    Warns:
        UserWarning: if every value of ``images`` lies in [0, 1] (not [-1, 1] images).
    """
    batch = check_int(batch, "batch", 1)
    warn_if_unit_range("images", images)
    model.eval()
    recs, zs = [], []
    for i in range(0, len(images), batch):
        rec, z = reconstruct(model, images[i : i + batch])
        recs.append(rec)
        zs.append(z)
    rec = torch.cat(recs)
    z = torch.cat(zs)
    return {
        "psnr_db": round(float(psnr(rec, images).mean()), 3),
        "ssim": round(float(ssim(rec, images).mean()), 4),
        "latent_mean": round(float(z.mean()), 4),
        "latent_std": round(float(z.std()), 4),
        "num_images": len(images),
    }
