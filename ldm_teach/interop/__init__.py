"""Real formats (Sec. 10.4): the published Stable Diffusion models as data, and their
checkpoints running in ``ldm_teach``.

reference_models.py  SD 1.5, 2.1 and XL built from their official configs (shipped as
                     JSON, no weights, nothing downloaded) on the meta device, for the
                     anatomy of Sec. 10.4.1: reference_config, build_reference,
                     reference_shapes, reference_evaluations
unet_map.py          diffusers' UNet2DConditionModel -> the course UNet (config and keys)
stable_diffusion.py  load_stable_diffusion: a diffusers-format folder -> a course
                     TextToImage (UNet, VAE, text encoder, tokenizer, schedule)
configs/             config.json of each model's unet, vae, text_encoder(s)
"""

from ldm_teach.interop.reference_models import (
    REFERENCE_MODELS,
    build_reference,
    reference_config,
    reference_evaluations,
    reference_shapes,
)
from ldm_teach.interop.stable_diffusion import load_stable_diffusion, schedule_from_diffusers
from ldm_teach.interop.unet_map import (
    unet_config_from_diffusers,
    unet_from_diffusers,
    unet_key_from_diffusers,
    unet_state_dict_from_diffusers,
)

__all__ = [
    "REFERENCE_MODELS",
    "build_reference",
    "load_stable_diffusion",
    "reference_config",
    "reference_evaluations",
    "reference_shapes",
    "schedule_from_diffusers",
    "unet_config_from_diffusers",
    "unet_from_diffusers",
    "unet_key_from_diffusers",
    "unet_state_dict_from_diffusers",
]
