"""The inputs of the text-to-image pipeline checked in one place: prompts, starting latents,
and whether an autoencoder, UNet, text encoder and tokenizer fit together (each mismatch
named), so that :mod:`ldm_teach.pipelines.text_to_image` reads as the method."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ldm_teach.diffusion import PREDICTION_TYPES, ScheduleConfig
from ldm_teach.models import UNet
from ldm_teach.text import BPETokenizer, TextEncoder, WordTokenizer

SPACINGS = ("leading", "trailing", "linspace")


def as_prompts(prompts: str | Sequence[str], name: str = "prompts") -> list[str]:
    """A prompt or a list of prompts as a non-empty list of str (ValueError otherwise)."""
    if isinstance(prompts, str):
        return [prompts]
    if (
        isinstance(prompts, Sequence)
        and len(prompts) > 0
        and all(isinstance(p, str) for p in prompts)
    ):
        return list(prompts)
    raise ValueError(f"{name} must be a str or a non-empty list of str, got {prompts!r:.100}")


def start_latents(shape, x_T, generator, device) -> Tensor:
    if x_T is None:
        return torch.randn(shape, generator=generator).to(device)
    if not isinstance(x_T, Tensor) or tuple(x_T.shape) != tuple(shape):
        raise ValueError(f"x_T must be a tensor of shape {tuple(shape)}, got {x_T!r:.80}")
    return x_T.to(device)


def check_parts(autoencoder, unet, text_encoder, tokenizer, schedule_config, prediction_type):
    if not isinstance(unet, UNet) or unet.config.context_dim is None:
        raise ValueError("unet must be a UNet with context_dim set (cross-attention on text)")
    if not isinstance(text_encoder, TextEncoder):
        raise ValueError(f"text_encoder must be a TextEncoder, got {type(text_encoder).__name__}")
    if not isinstance(tokenizer, (WordTokenizer, BPETokenizer)):
        raise ValueError(
            f"tokenizer must be a WordTokenizer or a BPETokenizer, got {type(tokenizer).__name__}"
        )
    if not isinstance(schedule_config, ScheduleConfig):
        raise ValueError(
            f"schedule_config must be a ScheduleConfig, got {type(schedule_config).__name__}"
        )
    tc = text_encoder.config
    if unet.config.context_dim != tc.width:
        raise ValueError(
            f"unet.config.context_dim ({unet.config.context_dim}) must equal the text "
            f"encoder's width ({tc.width})"
        )
    if tokenizer.vocab_size != tc.vocab_size or tokenizer.end_token_id != tc.eos_token_id:
        raise ValueError(
            f"the tokenizer ({tokenizer.vocab_size} tokens, end token {tokenizer.end_token_id}) "
            f"does not fit the text encoder (vocab_size {tc.vocab_size}, eos_token_id "
            f"{tc.eos_token_id})"
        )
    if tokenizer.context_length > tc.context_length:
        raise ValueError(
            f"the tokenizer's context_length ({tokenizer.context_length}) exceeds the text "
            f"encoder's ({tc.context_length})"
        )
    latent = autoencoder.config.latent_channels
    if unet.config.in_channels != latent or unet.config.out_channels != latent:
        raise ValueError(
            f"unet in/out channels ({unet.config.in_channels}, {unet.config.out_channels}) "
            f"must equal the autoencoder's latent_channels ({latent})"
        )
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(
            f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}"
        )
