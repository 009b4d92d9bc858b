"""A tiny random Stable Diffusion pipeline in diffusers' folder format, built offline (the
real layout at toy widths: CLIP's real BPE tokenizer, a CLIPTextModel, an AutoencoderKL with
f = 2, a UNet2DConditionModel with cross-attention levels and a DDIM scheduler with SD 1.5's
conventions)."""

from __future__ import annotations

from pathlib import Path

import torch

from ldm_teach.text import clip_tokenizer

UNET = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    block_out_channels=(32, 64),
    layers_per_block=1,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=32,
    attention_head_dim=4,
    norm_num_groups=8,
)
VAE = dict(
    in_channels=3,
    out_channels=3,
    block_out_channels=(16, 32),
    down_block_types=("DownEncoderBlock2D",) * 2,
    up_block_types=("UpDecoderBlock2D",) * 2,
    latent_channels=4,
    norm_num_groups=8,
    layers_per_block=1,
)
SCHEDULER = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    num_train_timesteps=1000,
    clip_sample=False,
    set_alpha_to_one=False,
    steps_offset=1,
)


# SD 2.x's differences: heads of a fixed width, linear projections, v-prediction
SD2_UNET = dict(attention_head_dim=(2, 4), use_linear_projection=True, upcast_attention=True)
SD2_SCHEDULER = dict(prediction_type="v_prediction", timestep_spacing="trailing")


def build_tiny_pipeline(
    folder: Path, seed: int = 0, unet: dict | None = None, scheduler: dict | None = None
):
    """Build, randomise and save a tiny StableDiffusionPipeline (``unet`` / ``scheduler``
    override fields of the SD 1.5-like configs); return it."""
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet_model = diffusers.UNet2DConditionModel(**{**UNET, **(unet or {})})
    vae = diffusers.AutoencoderKL(**VAE)
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408,
            hidden_size=32,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            eos_token_id=2,  # the legacy value of SD 1.x's config: pooled at argmax(ids)
        )
    )
    with torch.no_grad():  # zero-initialised output layers would hide mistakes
        for p in unet_model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    ddim = diffusers.DDIMScheduler(**{**SCHEDULER, **(scheduler or {})})
    pipe = diffusers.StableDiffusionPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=clip_tokenizer(),
        unet=unet_model,
        scheduler=ddim,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return pipe
