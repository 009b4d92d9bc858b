"""Stage 1 of a Latent Diffusion Model: autoencoders between pixels and latents."""

from ldm_teach.autoencoders.adversarial_losses import (
    adaptive_weight,
    discriminator_factor,
    hinge_d_loss,
    hinge_g_loss,
    non_saturating_d_loss,
    non_saturating_g_loss,
)
from ldm_teach.autoencoders.diffusers_interop import from_diffusers, load_diffusers_state_dict
from ldm_teach.autoencoders.discriminator import PatchDiscriminator
from ldm_teach.autoencoders.distributions import DiagonalGaussian
from ldm_teach.autoencoders.gradient_penalties import r1_gradient_penalty, wgan_gradient_penalty
from ldm_teach.autoencoders.identity import IdentityAutoencoder, PooledPixels
from ldm_teach.autoencoders.kl_vae import (
    AutoencoderKL,
    AutoencoderKLConfig,
    Decoder,
    Encoder,
    autoencoder_kl_loss,
)
from ldm_teach.autoencoders.losses import (
    AutoencoderLoss,
    AutoencoderLossConfig,
    reconstruction_loss,
)
from ldm_teach.autoencoders.quantizer import QuantizerOutput, VectorQuantizer
from ldm_teach.autoencoders.tiling import largest_decode_activation, tile_starts, tiled_decode
from ldm_teach.autoencoders.vq_vae import VQVAE, VQVAEConfig, vq_vae_loss

__all__ = [
    "largest_decode_activation",
    "tile_starts",
    "tiled_decode",
    "IdentityAutoencoder",
    "PooledPixels",
    "from_diffusers",
    "load_diffusers_state_dict",
    "AutoencoderKL",
    "AutoencoderKLConfig",
    "Decoder",
    "DiagonalGaussian",
    "Encoder",
    "QuantizerOutput",
    "VQVAE",
    "VQVAEConfig",
    "VectorQuantizer",
    "autoencoder_kl_loss",
    "vq_vae_loss",
    "AutoencoderLoss",
    "AutoencoderLossConfig",
    "PatchDiscriminator",
    "adaptive_weight",
    "discriminator_factor",
    "hinge_d_loss",
    "hinge_g_loss",
    "non_saturating_d_loss",
    "non_saturating_g_loss",
    "r1_gradient_penalty",
    "wgan_gradient_penalty",
    "reconstruction_loss",
]
