"""Load a diffusers ``UNet2DConditionModel`` (Stable Diffusion 1.x / 2.x) into the course's
:class:`~ldm_teach.models.UNet`.

Both compute the LDM UNet of Rombach et al. 2022 (arXiv:2112.10752, Appendix E and the
Stable Diffusion configs): ResNet blocks with the time embedding, a SpatialTransformer
(self-attention, cross-attention on the text tokens, GEGLU feed-forward) after the ResNet
blocks of the cross-attention levels, skip connections from every down block to the up
path. This module is two tables, not a copy of any code:

- :func:`unet_config_from_diffusers` reads the :class:`~ldm_teach.models.UNetConfig` that
  builds the same network from a diffusers ``config.json`` (refusing, by name, the options
  the course UNet does not implement: SDXL's added text/time embedding, class embeddings,
  other time embeddings or block types);
- :func:`unet_state_dict_from_diffusers` renames the keys, e.g.
  ``down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_out.0.weight`` ->
  ``down_conds.1.0.transformer_blocks.0.attn2.to_out.weight``. No tensor is copied.

Name map (diffusers -> course), i = level, j = block in the level:

    time_embedding.linear_1 / linear_2        time_embed.0 / time_embed.2
    down_blocks.i.resnets.j                   down_blocks.i.j
    down_blocks.i.attentions.j                down_conds.i.j
    down_blocks.i.downsamplers.0              downsamplers.i
    mid_block.resnets.0 / .1                  mid_block1 / mid_block2
    mid_block.attentions.0                    mid_cond
    up_blocks.i.resnets.j / attentions.j      up_blocks.i.j / up_conds.i.j
    up_blocks.i.upsamplers.0                  upsamplers.i
    conv_norm_out                             norm_out
    ...attn{1,2}.to_out.0                     ...attn{1,2}.to_out
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ldm_teach.models import UNet, UNetConfig

CROSS_DOWN, PLAIN_DOWN = "CrossAttnDownBlock2D", "DownBlock2D"
CROSS_UP, PLAIN_UP = "CrossAttnUpBlock2D", "UpBlock2D"
CROSS_MID = "UNetMidBlock2DCrossAttn"

# options whose value must be the one given here (None: the option must be absent or None)
_REQUIRED: dict[str, Any] = {
    "act_fn": "silu",
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "center_input_sample": False,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "time_embedding_type": "positional",
    "resnet_time_scale_shift": "default",
    "dual_cross_attention": False,
    "only_cross_attention": False,
    "addition_embed_type": None,
    "class_embed_type": None,
    "encoder_hid_dim": None,
    "encoder_hid_dim_type": None,
    "time_cond_proj_dim": None,
    "time_embedding_dim": None,
    "num_class_embeds": None,
    "attention_type": "default",
    "mid_block_only_cross_attention": None,
    "cross_attention_norm": None,
    "resnet_skip_time_act": False,
    "resnet_out_scale_factor": 1.0,
    "class_embeddings_concat": False,
    "time_embedding_act_fn": None,
    "timestep_post_act": None,
    "reverse_transformer_layers_per_block": None,
}


def _per_level(value: Any, levels: int, name: str) -> int | tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)) and len(value) == levels:
        values = tuple(value)
        return values[0] if len(set(values)) == 1 else values
    raise ValueError(f"config[{name!r}] must be an int or one int per level, got {value!r}")


def unet_config_from_diffusers(config: Mapping[str, Any]) -> UNetConfig:
    """The :class:`UNetConfig` of the network a diffusers ``UNet2DConditionModel``
    ``config.json`` describes (SD 1.x / 2.x layouts).

    Args:
        config: the parsed ``unet/config.json`` (keys starting with "_" are ignored).
    Returns:
        A UNetConfig with ``context_dim = cross_attention_dim``, no self-attention outside
        the transformers (``attention_levels=()``, ``mid_attention=False``), cross-attention
        at the levels whose down block is ``CrossAttnDownBlock2D``.
    Raises:
        ValueError: naming the first option the course UNet does not implement (e.g.
            SDXL's ``addition_embed_type="text_time"``), block types other than the four
            of SD 1.x/2.x, up blocks that do not mirror the down blocks, or channel widths
            that are not multiples of the first.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a mapping (unet/config.json), got {type(config)}")
    cfg = {k: v for k, v in config.items() if not k.startswith("_")}
    for key, expected in _REQUIRED.items():
        value = cfg.get(key, expected)
        if value != expected and not (expected is False and value is None):
            raise ValueError(
                f"config[{key!r}] = {value!r} is not supported by the course UNet "
                f"(it implements {expected!r})"
            )
    down, up = list(cfg["down_block_types"]), list(cfg["up_block_types"])
    levels = len(down)
    bad = [t for t in down if t not in (CROSS_DOWN, PLAIN_DOWN)]
    bad += [t for t in up if t not in (CROSS_UP, PLAIN_UP)]
    if bad:
        raise ValueError(f"block types {bad} are not supported (SD 1.x/2.x blocks only)")
    mirrored = [CROSS_UP if t == CROSS_DOWN else PLAIN_UP for t in reversed(down)]
    if up != mirrored:
        raise ValueError(f"up_block_types {up} must mirror down_block_types {down}")
    mid = cfg.get("mid_block_type", CROSS_MID)
    if mid not in (CROSS_MID, None):
        raise ValueError(f"mid_block_type {mid!r} is not supported (UNetMidBlock2DCrossAttn)")
    widths = list(cfg["block_out_channels"])
    base = widths[0]
    if len(widths) != levels or any(w % base for w in widths):
        raise ValueError(f"block_out_channels {widths} must be multiples of the first")
    heads = cfg.get("num_attention_heads") or cfg.get("attention_head_dim", 8)
    return UNetConfig(
        in_channels=cfg.get("in_channels", 4),
        out_channels=cfg.get("out_channels", 4),
        base_channels=base,
        channel_mult=tuple(w // base for w in widths),
        num_res_blocks=cfg.get("layers_per_block", 2),
        attention_levels=(),
        num_heads=_per_level(heads, levels, "attention_head_dim"),
        norm_groups=cfg.get("norm_num_groups", 32),
        condition_levels=tuple(i for i, t in enumerate(down) if t == CROSS_DOWN),
        context_dim=cfg.get("cross_attention_dim", 1280),
        transformer_depth=_per_level(
            cfg.get("transformer_layers_per_block", 1), levels, "transformer_layers_per_block"
        ),
        linear_projection=bool(cfg.get("use_linear_projection", False)),
        mid_attention=False,
        mid_conditioning=mid == CROSS_MID,
        norm_eps=cfg.get("norm_eps", 1e-5),
        dropout=cfg.get("dropout", 0.0),
    )


# (diffusers pattern, course); applied in order, first match wins
_RULES: list[tuple[str, str]] = [
    (r"^time_embedding\.linear_1\.", "time_embed.0."),
    (r"^time_embedding\.linear_2\.", "time_embed.2."),
    (r"^down_blocks\.(\d+)\.resnets\.(\d+)\.", r"down_blocks.\1.\2."),
    (r"^down_blocks\.(\d+)\.attentions\.(\d+)\.", r"down_conds.\1.\2."),
    (r"^down_blocks\.(\d+)\.downsamplers\.0\.", r"downsamplers.\1."),
    (r"^mid_block\.resnets\.0\.", "mid_block1."),
    (r"^mid_block\.resnets\.1\.", "mid_block2."),
    (r"^mid_block\.attentions\.0\.", "mid_cond."),
    (r"^up_blocks\.(\d+)\.resnets\.(\d+)\.", r"up_blocks.\1.\2."),
    (r"^up_blocks\.(\d+)\.attentions\.(\d+)\.", r"up_conds.\1.\2."),
    (r"^up_blocks\.(\d+)\.upsamplers\.0\.", r"upsamplers.\1."),
    (r"^conv_norm_out\.", "norm_out."),
]


def unet_key_from_diffusers(key: str) -> str:
    """One diffusers UNet key -> the course UNet's (see the module docstring)."""
    for pattern, repl in _RULES:
        key, n = re.subn(pattern, repl, key)
        if n:
            break
    return re.sub(r"\.to_out\.0\.", ".to_out.", key)


def unet_state_dict_from_diffusers(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename every key of a diffusers ``UNet2DConditionModel`` state dict (the tensors are
    not copied). Load the result with ``UNet.load_state_dict(..., strict=True)``."""
    return {unet_key_from_diffusers(k): v for k, v in state_dict.items()}


def unet_from_diffusers(config: Mapping[str, Any], state_dict: Mapping[str, Tensor]) -> UNet:
    """A course UNet holding the weights of a diffusers ``UNet2DConditionModel``.

    Args:
        config: its ``config.json`` as a dict.
        state_dict: its tensors (e.g. ``safetensors.torch.load_file(...)``), any float dtype.
    Raises:
        ValueError: for an unsupported config (see :func:`unet_config_from_diffusers`), or
            naming the missing and unexpected keys when the weights do not fit it.
    """
    unet = UNet(unet_config_from_diffusers(config))
    ours = unet_state_dict_from_diffusers(state_dict)
    expected = set(unet.state_dict())
    missing, unexpected = sorted(expected - set(ours)), sorted(set(ours) - expected)
    if missing or unexpected:
        raise ValueError(
            f"the UNet weights do not fit the config: missing {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
            f"{' ...' if len(unexpected) > 5 else ''}"
        )
    dtype = next(iter(ours.values())).dtype
    unet.to(dtype).load_state_dict(ours, strict=True)
    return unet.eval()


__all__ = [
    "unet_config_from_diffusers",
    "unet_from_diffusers",
    "unet_key_from_diffusers",
    "unet_state_dict_from_diffusers",
]
