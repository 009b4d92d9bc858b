"""Real formats: key maps between the course's modules and diffusers / transformers, and
loading a diffusers-format Stable Diffusion folder into ``ldm_teach`` (Sec. 10.4)."""

from ldm_teach.interop.stable_diffusion import load_stable_diffusion, schedule_from_diffusers
from ldm_teach.interop.unet_map import (
    unet_config_from_diffusers,
    unet_from_diffusers,
    unet_key_from_diffusers,
    unet_state_dict_from_diffusers,
)

__all__ = [
    "load_stable_diffusion",
    "schedule_from_diffusers",
    "unet_config_from_diffusers",
    "unet_from_diffusers",
    "unet_key_from_diffusers",
    "unet_state_dict_from_diffusers",
]
