"""Run a real Stable Diffusion checkpoint (a diffusers-format folder) in ``ldm_teach``.

A diffusers folder (``StableDiffusionPipeline.save_pretrained``, or the SD 1.5 / 2.1 repos
downloaded by the user) holds::

    model_index.json
    unet/          config.json, diffusion_pytorch_model[.fp16].safetensors
    vae/           config.json, diffusion_pytorch_model[.fp16].safetensors
    text_encoder/  config.json, model[.fp16].safetensors          (CLIPTextModel)
    tokenizer/     vocab.json, merges.txt, ...                     (CLIPTokenizer)
    scheduler/     scheduler_config.json

:func:`load_stable_diffusion` reads each part into the course's own modules (UNet,
AutoencoderKL, TextEncoder; the tokenizer is transformers' own) and returns a
:class:`~ldm_teach.pipelines.TextToImage`: the same pipeline that runs the course's shapes
model, with the folder's noise schedule, prediction type and sampler conventions
(``steps_offset``, ``set_alpha_to_one``, ``timestep_spacing``). Sampling is the course's
DDIM (Song et al. 2020, Eq. 12), whatever scheduler class the folder names; with the same
prompt, seed and DDIM settings it gives diffusers' ``StableDiffusionPipeline`` images
(tests/interop/test_stable_diffusion.py). Nothing is downloaded: the folder must be on disk.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ldm_teach.autoencoders import AutoencoderKL
from ldm_teach.autoencoders.diffusers_interop import (
    DIFFUSERS_SCALING_FACTOR,
    config_from_diffusers,
    load_diffusers_state_dict,
)
from ldm_teach.diffusion import ScheduleConfig
from ldm_teach.interop.unet_map import unet_from_diffusers
from ldm_teach.pipelines import TextToImage
from ldm_teach.text import BPETokenizer, TextEncoder, TextEncoderConfig
from ldm_teach.text.encoder import state_dict_from_transformers

PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
SUPPORTED_PIPELINES = ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: not a diffusers Stable Diffusion folder")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _weights(part: Path, stem: str, variant: str | None) -> dict[str, Tensor]:
    """The tensors of one part: ``stem[.variant].safetensors`` (or a ``.bin`` read with
    ``weights_only=True``)."""
    from safetensors.torch import load_file

    suffix = f".{variant}" if variant else ""
    for name in (f"{stem}{suffix}.safetensors", f"{stem}{suffix}.bin"):
        path = part / name
        if path.is_file():
            if name.endswith(".safetensors"):
                return load_file(path)
            return torch.load(path, map_location="cpu", weights_only=True)
    raise FileNotFoundError(
        f"no weights in {part}: expected {stem}{suffix}.safetensors"
        + ("" if variant else " (for fp16 files pass variant='fp16')")
    )


def schedule_from_diffusers(config: dict[str, Any]) -> tuple[ScheduleConfig, dict[str, Any]]:
    """(noise schedule, sampler conventions) of a diffusers ``scheduler_config.json``.

    The conventions are ``prediction_type``, ``steps_offset``, ``set_alpha_to_one`` and
    ``timestep_spacing``, with diffusers' defaults where the file has none.

    Raises:
        ValueError: on ``trained_betas`` (explicit betas are not supported), a
            ``beta_schedule`` the course does not implement, or ``clip_sample=True``.
    """
    if config.get("trained_betas") is not None:
        raise ValueError("scheduler_config.json gives trained_betas: explicit betas are not read")
    if config.get("clip_sample", False):
        raise ValueError("scheduler_config.json has clip_sample=true: Stable Diffusion uses false")
    names = {"squaredcos_cap_v2": "cosine"}
    schedule = ScheduleConfig(
        num_train_timesteps=int(config.get("num_train_timesteps", 1000)),
        beta_schedule=names.get(config.get("beta_schedule", "linear"), config.get("beta_schedule")),
        beta_start=float(config.get("beta_start", 0.0001)),
        beta_end=float(config.get("beta_end", 0.02)),
        rescale_betas_zero_snr=bool(config.get("rescale_betas_zero_snr", False)),
    )
    conventions = {
        "prediction_type": config.get("prediction_type", "epsilon"),
        "steps_offset": int(config.get("steps_offset", 0)),
        "set_alpha_to_one": bool(config.get("set_alpha_to_one", True)),
        "timestep_spacing": config.get("timestep_spacing", "leading"),
    }
    return schedule, conventions


def load_stable_diffusion(
    folder: str | os.PathLike,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    variant: str | None = None,
) -> TextToImage:
    """A diffusers-format Stable Diffusion folder as a course :class:`TextToImage`.

    Args:
        folder: the folder holding ``model_index.json`` (see the module docstring).
        device: where to put the modules (default CPU); e.g. "cuda" on a GPU machine.
        dtype: float32 (default; what the parity tests check) or float16 / bfloat16 (the
            UNet and text encoder; the autoencoder stays float32, as diffusers' SD 1.x
            VAE upcasts).
        variant: read ``*.{variant}.safetensors`` files, e.g. "fp16".
    Returns:
        A TextToImage in eval mode: ``model.sample("a photo of an astronaut",
        guidance_scale=7.5, num_inference_steps=50, generator=...)`` gives images
        (B, 3, 512, 512) in [-1, 1] for SD 1.5. Its ``image_size`` is
        ``unet.sample_size * 2**(len(vae.block_out_channels) - 1)``.
    Raises:
        FileNotFoundError: naming the missing part or file.
        ValueError: for a pipeline other than Stable Diffusion 1.x/2.x (SDXL has a second
            text encoder and added conditioning the course UNet does not implement), or a
            part the course modules do not implement (named by the part's loader).
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"folder {str(root)!r} is not a directory")
    index = _read_json(root / "model_index.json")
    kind = index.get("_class_name")
    if kind not in SUPPORTED_PIPELINES:
        raise ValueError(
            f"model_index.json names {kind!r}; load_stable_diffusion reads "
            f"{' / '.join(SUPPORTED_PIPELINES)} folders (SD 1.x and 2.x)"
        )
    missing = [p for p in PARTS if not (root / p).is_dir()]
    if missing:
        raise FileNotFoundError(f"{root} has no {', '.join(missing)} folder")
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"dtype must be float32, float16 or bfloat16, got {dtype}")

    unet_config = _read_json(root / "unet" / "config.json")
    unet = unet_from_diffusers(
        unet_config, _weights(root / "unet", "diffusion_pytorch_model", variant)
    )

    vae_config = _read_json(root / "vae" / "config.json")
    vae = AutoencoderKL(config_from_diffusers(vae_config))
    vae_weights = _weights(root / "vae", "diffusion_pytorch_model", variant)
    load_diffusers_state_dict(vae, {k: v.float() for k, v in vae_weights.items()})
    scale_factor = float(vae_config.get("scaling_factor", DIFFUSERS_SCALING_FACTOR))

    text_config = TextEncoderConfig.from_transformers(
        _read_json(root / "text_encoder" / "config.json")
    )
    text_encoder = TextEncoder(text_config)
    text_weights = state_dict_from_transformers(_weights(root / "text_encoder", "model", variant))
    text_encoder.load_state_dict({k: v.float() for k, v in text_weights.items()}, strict=True)

    from transformers import CLIPTokenizer

    tokenizer = BPETokenizer(
        CLIPTokenizer.from_pretrained(root / "tokenizer", local_files_only=True)
    )
    schedule, conventions = schedule_from_diffusers(
        _read_json(root / "scheduler" / "scheduler_config.json")
    )
    f = 2 ** (len(vae_config["block_out_channels"]) - 1)
    model = TextToImage(
        vae,
        unet.float(),
        text_encoder,
        tokenizer,
        schedule,
        scale_factor,
        image_size=int(unet_config.get("sample_size", 64)) * f,
        cond_drop_prob=0.0,
        **conventions,
    )
    model.unet.to(dtype)
    model.text_encoder.to(dtype)
    return model.to(device or "cpu").eval()


__all__ = ["load_stable_diffusion", "schedule_from_diffusers"]
