"""Load a diffusers ``AutoencoderKL`` state dict (e.g. the Stable Diffusion VAE) into the
course's :class:`~ldm_teach.autoencoders.AutoencoderKL`.

The two implementations compute the same function (Rombach et al. 2022,
arXiv:2112.10752, Appendix G); only the parameter names differ. This module is a table of
names, not a copy of any code: the map below renames diffusers' keys to ours, and
:func:`config_from_diffusers` reads the matching :class:`AutoencoderKLConfig` from a
diffusers config dict. Weights are never downloaded here; pass a state dict you have
(for example ``safetensors.torch.load_file("vae/diffusion_pytorch_model.safetensors")``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from torch import Tensor

from ldm_teach.autoencoders.kl_vae import AutoencoderKL, AutoencoderKLConfig

# (diffusers pattern, ours); applied in order, first match wins.
_RULES: list[tuple[str, str]] = [
    (r"^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.", r"encoder.down.\1.blocks.\2."),
    (r"^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.", r"encoder.down.\1.downsample.conv."),
    (r"^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.", r"decoder.up.\1.blocks.\2."),
    (r"^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.", r"decoder.up.\1.upsample.conv."),
    (r"^(encoder|decoder)\.mid_block\.resnets\.0\.", r"\1.mid_block1."),
    (r"^(encoder|decoder)\.mid_block\.resnets\.1\.", r"\1.mid_block2."),
    (r"^(encoder|decoder)\.mid_block\.attentions\.0\.to_out\.0\.", r"\1.mid_attn.to_out."),
    (r"^(encoder|decoder)\.mid_block\.attentions\.0\.", r"\1.mid_attn."),
    (r"^(encoder|decoder)\.conv_norm_out\.", r"\1.norm_out."),
]


def diffusers_key_to_ours(key: str) -> str:
    """Rename one diffusers ``AutoencoderKL`` parameter name to ours (unchanged if equal)."""
    for pattern, repl in _RULES:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    return key


def config_from_diffusers(config: Mapping) -> AutoencoderKLConfig:
    """Our config from a diffusers ``AutoencoderKL`` config dict (its ``config.json``).

    Raises:
        ValueError: if the diffusers model uses blocks this course does not implement
            (anything but DownEncoderBlock2D / UpDecoderBlock2D), different in/out
            channels, an activation other than SiLU (``act_fn``), no
            ``block_out_channels``, or no mid-block attention where the flag says otherwise.
    """
    downs = tuple(config.get("down_block_types", ()))
    ups = tuple(config.get("up_block_types", ()))
    if any(b != "DownEncoderBlock2D" for b in downs) or any(b != "UpDecoderBlock2D" for b in ups):
        raise ValueError(
            f"only DownEncoderBlock2D/UpDecoderBlock2D autoencoders are supported, got "
            f"{downs} / {ups}"
        )
    if config.get("in_channels", 3) != config.get("out_channels", 3):
        raise ValueError("in_channels and out_channels must be equal")
    if config.get("act_fn", "silu") != "silu":
        # our ResNet blocks use SiLU; converting another activation would run silently wrong
        raise ValueError(f"only act_fn='silu' is supported, got act_fn={config['act_fn']!r}")
    if not config.get("block_out_channels"):
        raise ValueError("the diffusers config has no block_out_channels (the width per level)")
    widths = tuple(config["block_out_channels"])
    base = widths[0]
    if any(w % base for w in widths):
        raise ValueError(f"block_out_channels {widths} are not multiples of the first width")
    return AutoencoderKLConfig(
        in_channels=config.get("in_channels", 3),
        base_channels=base,
        channel_mult=tuple(w // base for w in widths),
        num_res_blocks=config.get("layers_per_block", 1),
        latent_channels=config.get("latent_channels", 4),
        norm_groups=config.get("norm_num_groups", 32),
        mid_attention=config.get("mid_block_add_attention", True),
    )


def load_diffusers_state_dict(
    model: AutoencoderKL, state_dict: Mapping[str, Tensor], strict: bool = True
) -> AutoencoderKL:
    """Copy a diffusers ``AutoencoderKL`` state dict into ``model`` (renamed key by key).

    Args:
        model: an ``ldm_teach`` autoencoder built with :func:`config_from_diffusers`.
        state_dict: diffusers parameter name -> tensor.
        strict: raise if any key is missing or left over after renaming.
    Returns:
        ``model``, for chaining.
    Raises:
        KeyError: with the unmatched names, when ``strict`` and the names do not line up.
        RuntimeError: from ``load_state_dict`` when shapes differ.
    """
    renamed = {diffusers_key_to_ours(k): v for k, v in state_dict.items()}
    ours = set(model.state_dict())
    missing, unexpected = sorted(ours - set(renamed)), sorted(set(renamed) - ours)
    if strict and (missing or unexpected):
        raise KeyError(
            f"state dict does not match: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    model.load_state_dict(renamed, strict=strict)
    return model


# diffusers' AutoencoderKL defaults for the two non-architecture fields read below
DIFFUSERS_SCALING_FACTOR = 0.18215
DIFFUSERS_FORCE_UPCAST = True


def from_diffusers(diffusers_model) -> AutoencoderKL:
    """Build our autoencoder from an instantiated diffusers ``AutoencoderKL``.

    Besides the architecture (:func:`config_from_diffusers`) and the weights, two fields of
    the diffusers config are carried over (diffusers' defaults when absent):

    * ``scaling_factor`` (default 0.18215) -> ``model.scaling_factor``: the latent scale
      the model was published with; pass it as ``LatentDiffusion``'s ``scale_factor``.
    * ``force_upcast`` (default True) -> ``model.force_upcast``: once the model is
      converted to float16, encode and decode run in float32, as diffusers' pipelines do
      for such models, since their float16 activations overflow to NaN.

    Args:
        diffusers_model: a ``diffusers.AutoencoderKL`` (any dtype; ours is built in
            float32, the weights are converted on loading).
    Returns:
        our :class:`AutoencoderKL`, float32, in training mode (call ``.eval()``).
    Raises:
        ValueError: as :func:`config_from_diffusers`, or for a ``scaling_factor`` that is
            not a finite positive number or a ``force_upcast`` that is not a bool.
        KeyError: as :func:`load_diffusers_state_dict`.
    """
    config = dict(diffusers_model.config)
    model = AutoencoderKL(
        config_from_diffusers(config),
        force_upcast=config.get("force_upcast", DIFFUSERS_FORCE_UPCAST),
        scaling_factor=config.get("scaling_factor", DIFFUSERS_SCALING_FACTOR),
    )
    return load_diffusers_state_dict(model, diffusers_model.state_dict())
