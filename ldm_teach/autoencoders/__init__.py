"""Stage 1 of a Latent Diffusion Model: autoencoders between pixels and latents."""

from ldm_teach.autoencoders.distributions import DiagonalGaussian
from ldm_teach.autoencoders.kl_vae import (
    AutoencoderKL,
    AutoencoderKLConfig,
    Decoder,
    Encoder,
    autoencoder_kl_loss,
)

__all__ = [
    "AutoencoderKL",
    "AutoencoderKLConfig",
    "Decoder",
    "DiagonalGaussian",
    "Encoder",
    "autoencoder_kl_loss",
]
