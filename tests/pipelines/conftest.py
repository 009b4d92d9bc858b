"""A tiny random text-to-image model for the pipeline tests (built, never trained)."""

import pytest
import torch

from ldm_teach.autoencoders import AutoencoderKL, AutoencoderKLConfig
from ldm_teach.diffusion import ScheduleConfig
from ldm_teach.models import UNet, UNetConfig
from ldm_teach.pipelines import TextToImage
from ldm_teach.text import TextEncoder, TextEncoderConfig, shapes_tokenizer


def tiny_model(prediction_type="epsilon", seed=0, **schedule):
    torch.manual_seed(seed)
    tok = shapes_tokenizer()
    text = TextEncoder(
        TextEncoderConfig(vocab_size=tok.vocab_size, eos_token_id=tok.end_token_id, width=16)
    )
    ae = AutoencoderKL(
        AutoencoderKLConfig(
            in_channels=3,
            base_channels=8,
            channel_mult=(1, 2),
            norm_groups=4,
            mid_attention=False,
            latent_channels=4,
        )
    )
    unet = UNet(
        UNetConfig(
            in_channels=4,
            out_channels=4,
            base_channels=16,
            channel_mult=(1, 2),
            num_res_blocks=1,
            norm_groups=4,
            class_conditioning="cross_attention",
            context_dim=16,
        )
    )
    for p in unet.parameters():  # the zero-initialised output conv would hide everything
        torch.nn.init.normal_(p, std=0.05) if p.ndim > 1 else None
    cfg = ScheduleConfig(
        **{"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, **schedule}
    )
    return TextToImage(
        ae, unet, text, tok, cfg, 1.0, image_size=16, prediction_type=prediction_type
    )


@pytest.fixture
def model():
    return tiny_model()


@pytest.fixture
def make_model():
    """``make_model(prediction_type="epsilon", seed=0, **schedule)`` -> a new tiny model."""
    return tiny_model
