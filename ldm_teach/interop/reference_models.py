"""The published Stable Diffusion networks, built from their configs without their weights.

Section 10.4.1 dissects Stable Diffusion 1.5, 2.1 and XL (Rombach et al. 2022,
arXiv:2112.10752; Podell et al. 2023, arXiv:2307.01952). The architecture of each network
is fully given by the ``config.json`` of its folder in the official model repository
(``runwayml/stable-diffusion-v1-5``, ``stabilityai/stable-diffusion-2-1``,
``stabilityai/stable-diffusion-xl-base-1.0``); those files ship with the package, in
``ldm_teach/interop/configs/<model>/<component>.json``, so nothing is downloaded.

:func:`build_reference` builds diffusers' ``UNet2DConditionModel`` / ``AutoencoderKL`` or
transformers' ``CLIPTextModel`` / ``CLIPTextModelWithProjection`` under
``torch.device("meta")``: every parameter has a shape and a dtype but no storage, so
SDXL's 2.6 billion UNet parameters take no memory, yet parameter counts and FLOP counts
(:mod:`ldm_teach.metrics.anatomy`) come out exact.

Components: ``unet`` (eps- or v-prediction network), ``vae`` (the KL autoencoder, f = 8),
``text_encoder`` (CLIP ViT-L/14's text tower in 1.5 and XL; OpenCLIP ViT-H/14's in 2.1) and,
for SDXL only, ``text_encoder_2`` (OpenCLIP ViT-bigG/14's text tower with its projection).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import torch
from torch import nn

__all__ = [
    "REFERENCE_MODELS",
    "build_reference",
    "reference_config",
    "reference_evaluations",
    "reference_shapes",
]

#: model name -> its Hugging Face repository and the components it has
REFERENCE_MODELS: dict[str, dict[str, Any]] = {
    "sd-1.5": {
        "repo": "runwayml/stable-diffusion-v1-5",
        "components": ("unet", "vae", "text_encoder"),
    },
    "sd-2.1": {
        "repo": "stabilityai/stable-diffusion-2-1",
        "components": ("unet", "vae", "text_encoder"),
    },
    "sdxl": {
        "repo": "stabilityai/stable-diffusion-xl-base-1.0",
        "components": ("unet", "vae", "text_encoder", "text_encoder_2"),
    },
}

# keys of a transformers config.json that describe the file, not the network
_FILE_KEYS = ("architectures", "model_type", "torch_dtype", "transformers_version")


def _check_model_component(model: str, component: str | None = None) -> None:
    if model not in REFERENCE_MODELS:
        raise ValueError(f"model must be one of {sorted(REFERENCE_MODELS)}, got {model!r}")
    components = REFERENCE_MODELS[model]["components"]
    if component is not None and component not in components:
        raise ValueError(
            f"component must be one of {list(components)} for model {model!r}, got {component!r}"
        )


def reference_config(model: str, component: str, *, raw: bool = False) -> dict[str, Any]:
    """The config dict of one component of a published Stable Diffusion model.

    Args:
        model: ``"sd-1.5"``, ``"sd-2.1"`` or ``"sdxl"``.
        component: ``"unet"``, ``"vae"``, ``"text_encoder"``, or (``"sdxl"`` only)
            ``"text_encoder_2"``.
        raw: return the file as published (with ``_class_name``, ``_diffusers_version``,
            ``architectures``, ``torch_dtype``, ...). By default those bookkeeping keys are
            dropped, leaving exactly the constructor's keyword arguments (diffusers) or
            ``CLIPTextConfig``'s fields (transformers).
    Returns:
        A new dict (the caller may change it).
    Raises:
        ValueError: naming ``model`` or ``component`` and the choices, if either is unknown.
    """
    _check_model_component(model, component)
    path = resources.files("ldm_teach.interop") / "configs" / model / f"{component}.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    if raw:
        return config
    return {k: v for k, v in config.items() if not k.startswith("_") and k not in _FILE_KEYS}


def build_reference(model: str, component: str, device: str | torch.device = "meta") -> nn.Module:
    """One network of a published Stable Diffusion model, randomly initialised or on meta.

    Args:
        model: ``"sd-1.5"``, ``"sd-2.1"`` or ``"sdxl"``.
        component: ``"unet"``, ``"vae"``, ``"text_encoder"`` or ``"text_encoder_2"``
            (SDXL only); see :func:`reference_config`.
        device: ``"meta"`` (the default) builds every parameter without storage: 0 bytes,
            exact shapes, a fraction of a second; FLOPs can be counted on meta inputs.
            ``"cpu"`` allocates and randomly initialises the weights (3.4 GB in float32
            for SD 1.5's UNet, 10.3 GB for SDXL's); nothing is ever downloaded.
    Returns:
        ``diffusers.UNet2DConditionModel`` (unet), ``diffusers.AutoencoderKL`` (vae),
        ``transformers.CLIPTextModel`` (text_encoder) or
        ``transformers.CLIPTextModelWithProjection`` (text_encoder_2), float32, in eval mode.
    Raises:
        ValueError: naming ``model``, ``component`` or ``device`` if one is not valid.
    """
    _check_model_component(model, component)
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'meta', 'cpu' or a torch.device, got {device!r}") from err
    config = reference_config(model, component)
    with device:
        # imported here: diffusers and transformers take seconds to import
        if component == "unet":
            from diffusers import UNet2DConditionModel

            net = UNet2DConditionModel(**config)
        elif component == "vae":
            from diffusers import AutoencoderKL

            net = AutoencoderKL(**config)
        else:
            from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

            cls = CLIPTextModelWithProjection if component == "text_encoder_2" else CLIPTextModel
            net = cls(CLIPTextConfig(**config))
    return net.eval()


def reference_shapes(model: str) -> dict[str, Any]:
    """The tensor shapes a published model works with, read from its configs.

    Args:
        model: ``"sd-1.5"``, ``"sd-2.1"`` or ``"sdxl"``.
    Returns:
        A dict with ``image_size`` (pixels, the VAE's ``sample_size``), ``downsample_factor``
        (f = 2 ** (len(vae block_out_channels) - 1) = 8), ``latent_shape`` (c, h, w) with
        h = w = the UNet's ``sample_size``, ``context_shape`` (77, D): max_position_embeddings
        tokens of width D = the UNet's ``cross_attention_dim`` (SDXL: both text encoders'
        hidden states concatenated, 768 + 1280 = 2048), ``text_hidden_sizes`` (one per text
        encoder), ``scaling_factor`` (the latent scale, diffusers' default 0.18215 when the
        config has none) and, for SDXL, ``added_cond_shapes``: ``text_embeds`` (1280,) the
        pooled, projected text_encoder_2 output and ``time_ids`` (6,) = original size,
        crop top-left, target size (Podell et al. 2023, Sec. 2.2).
    Raises:
        ValueError: naming ``model`` if it is unknown, or if the configs disagree (the
            UNet's latent channels or context width against the VAE and text encoders).
    """
    _check_model_component(model)
    unet = reference_config(model, "unet")
    vae = reference_config(model, "vae")
    texts = [c for c in REFERENCE_MODELS[model]["components"] if c.startswith("text_encoder")]
    text_configs = [reference_config(model, c) for c in texts]
    f = 2 ** (len(vae["block_out_channels"]) - 1)
    tokens = text_configs[0]["max_position_embeddings"]
    hidden = [c["hidden_size"] for c in text_configs]
    if unet["in_channels"] != vae["latent_channels"] or sum(hidden) != unet["cross_attention_dim"]:
        raise ValueError(f"model {model!r}: the UNet's config disagrees with the VAE's or CLIP's")
    shapes: dict[str, Any] = {
        "image_size": vae["sample_size"],
        "downsample_factor": f,
        "latent_shape": (vae["latent_channels"], unet["sample_size"], unet["sample_size"]),
        "context_shape": (tokens, unet["cross_attention_dim"]),
        "text_hidden_sizes": tuple(hidden),
        "scaling_factor": vae.get("scaling_factor", 0.18215),
    }
    if unet.get("addition_embed_type") == "text_time":
        pooled = text_configs[-1]["projection_dim"]
        n_time_ids = (unet["projection_class_embeddings_input_dim"] - pooled) // unet[
            "addition_time_embed_dim"
        ]
        shapes["added_cond_shapes"] = {"text_embeds": (pooled,), "time_ids": (n_time_ids,)}
    return shapes


def reference_evaluations(
    model: str, device: str | torch.device = "meta", batch_size: int = 1
) -> dict[str, dict[str, Any]]:
    """Every component of a published model, with what one evaluation of it takes.

    The UNet is called once at the model's latent size (SD 1.5: z (B, 4, 64, 64), context
    (B, 77, 768); SD 2.1: (B, 4, 96, 96), (B, 77, 1024); SDXL: (B, 4, 128, 128),
    (B, 77, 2048) and ``added_cond_kwargs`` text_embeds (B, 1280), time_ids (B, 6)), at
    timestep 999; the VAE decodes one latent of that size (``vae.decode``) to an image of
    ``image_size`` pixels; each text encoder reads 77 token ids. Inputs are zeros (ids:
    the end token 2 at the last place, so CLIP's pooling finds it) on ``device``.

    Args:
        model: ``"sd-1.5"``, ``"sd-2.1"`` or ``"sdxl"``.
        device: where networks and inputs live; ``"meta"`` (the default) for counting
            parameters and FLOPs without memory (see :func:`build_reference`).
        batch_size: B, an int >= 1.
    Returns:
        component -> ``{"module", "call", "args", "kwargs"}``, the form
        ``ldm_teach.metrics.anatomy_rows`` takes.
    Raises:
        ValueError: naming ``model``, ``device`` or ``batch_size`` if one is not valid.
    """
    _check_model_component(model)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    shapes = reference_shapes(model)
    nets = {c: build_reference(model, c, device) for c in REFERENCE_MODELS[model]["components"]}
    B = batch_size
    with torch.device(device):
        z = torch.zeros(B, *shapes["latent_shape"])  # (B, c, h, w)
        context = torch.zeros(B, *shapes["context_shape"])  # (B, 77, D)
        t = torch.full((B,), 999, dtype=torch.int64)  # (B,)
        ids = torch.zeros(B, shapes["context_shape"][0], dtype=torch.int64)  # (B, 77)
        ids[:, -1] = 2  # CLIP's end token, where the pooled output is read
        unet_kwargs: dict[str, Any] = {"encoder_hidden_states": context}
        if "added_cond_shapes" in shapes:
            unet_kwargs["added_cond_kwargs"] = {
                key: torch.zeros(B, *shape) for key, shape in shapes["added_cond_shapes"].items()
            }
    evaluations = {
        "unet": {
            "module": nets["unet"],
            "call": nets["unet"],
            "args": (z, t),
            "kwargs": unet_kwargs,
        },
        "vae": {"module": nets["vae"], "call": nets["vae"].decode, "args": (z,), "kwargs": {}},
    }
    for c in nets:
        if c.startswith("text_encoder"):
            evaluations[c] = {"module": nets[c], "call": nets[c], "args": (ids,), "kwargs": {}}
    return evaluations
