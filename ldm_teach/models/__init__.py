"""Stage-2 networks: the denoising UNet and the LatentDiffusion wrapper."""

from ldm_teach.models.convert import PredictionConverter
from ldm_teach.models.diagnose import diagnose
from ldm_teach.models.latent_diffusion import LatentDiffusion, compute_scale_factor
from ldm_teach.models.small_unet import small_unet
from ldm_teach.models.unet import UNet, UNetConfig

__all__ = [
    "small_unet",
    "LatentDiffusion",
    "PredictionConverter",
    "UNet",
    "UNetConfig",
    "compute_scale_factor",
    "diagnose",
]
