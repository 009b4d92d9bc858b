"""Stable Diffusion's pipelines on the course's models (Sec. 10.4): text-to-image with
guidance and negative prompts, img2img, inpainting, per-word attention maps and
prompt-to-prompt editing. Each is a plain loop over the samplers of ``diffusion``.
``fast_inference`` and ``deepcache`` hold the switches of Sec. 10.4.4 (faster sampling).
"""

from ldm_teach.pipelines.deepcache import DeepCacheUNet
from ldm_teach.pipelines.denoise import denoise_loop, sampling_timesteps
from ldm_teach.pipelines.fast_inference import cache_context_keys_values, fast_inference
from ldm_teach.pipelines.resolution import (
    pixel_count_snr_scale,
    sample_at_resolution,
    shifted_timesteps,
)
from ldm_teach.pipelines.text_to_image import TextToImage, as_prompts

__all__ = [
    "DeepCacheUNet",
    "TextToImage",
    "as_prompts",
    "cache_context_keys_values",
    "denoise_loop",
    "fast_inference",
    "pixel_count_snr_scale",
    "sample_at_resolution",
    "sampling_timesteps",
    "shifted_timesteps",
]
