"""The recipe tables of Sec. 10.4's text-to-image models on the captioned shapes.

In training order: :data:`JUDGE_RECIPES` (the independent attribute classifier that scores
samples), :data:`CLIP_RECIPES` (the contrastively trained mini-CLIP whose text encoder
Stable Diffusion-style models keep frozen), :data:`T2I_RECIPES` (the text-to-image LDMs:
the shipped model and the frozen / joint / no-transformer comparison at an equal budget).
The shapes autoencoder is an ordinary autoencoder recipe (``shapes-kl-f4`` in
:mod:`ldm_teach.pretrained.recipes`).

Every text-to-image model trains on the 192 training combinations only: the 24 of
:func:`~ldm_teach.data.shapes.held_out_attributes` are kept for the compositional test.
"""

from __future__ import annotations

from dataclasses import dataclass

from ldm_teach.diffusion import ScheduleConfig
from ldm_teach.models import UNetConfig
from ldm_teach.text import TextEncoderConfig, shapes_tokenizer
from ldm_teach.text.mini_clip import MiniCLIPConfig
from ldm_teach.training import TrainConfig

#: The shapes recipes train and test on :func:`~ldm_teach.data.shapes.shapes_split`
#: (32 x 32 RGB; "train" has the 192 training combinations only).

#: What a text encoder may be in the 10.4 comparison: the mini-CLIP's, frozen (Stable
#: Diffusion's choice); the same architecture trained jointly with the UNet from scratch;
#: token + position embeddings only (no transformer), trained jointly.
TEXT_ENCODER_KINDS = ("frozen-clip", "joint", "embeddings")


@dataclass(frozen=True)
class JudgeRecipe:
    summary: str
    train: TrainConfig
    widths: tuple[int, int, int] = (16, 32, 64)  # CaptionJudge conv widths
    # Augmentations that make the judge read generated images, which are never exactly
    # renders: Gaussian noise, a 3x3 blur with this probability, and a per-image,
    # per-channel gain on the colour (the black background stays black)
    noise_std: float = 0.05
    blur_prob: float = 0.5
    gain_range: tuple[float, float] = (0.6, 1.1)
    description: str = (
        "CaptionJudge: reads shape, colour, size and position from a 32x32 shapes image; "
        "trained on real renders only, scores text-to-image samples"
    )


@dataclass(frozen=True)
class MiniCLIPRecipe:
    summary: str
    config: MiniCLIPConfig
    train: TrainConfig
    description: str = "mini-CLIP: text and image encoders trained by symmetric InfoNCE"


@dataclass(frozen=True)
class TextToImageRecipe:
    summary: str
    autoencoder: str  # the shipped shapes autoencoder
    text_encoder: str  # TEXT_ENCODER_KINDS
    unet: UNetConfig
    schedule: ScheduleConfig
    train: TrainConfig
    clip: str = "shapes-clip"  # the mini-CLIP whose text encoder is used ("frozen-clip")
    text_config: TextEncoderConfig | None = None  # "joint" / "embeddings": the encoder built
    cond_drop_prob: float = 0.1  # empty-prompt dropout for classifier-free guidance
    prediction_type: str = "epsilon"
    eval_guidance_scale: float = 3.0  # the card's caption accuracy is measured with these
    eval_steps: int = 25
    description: str = "text-to-image LDM on captioned shapes, cross-attention on text"

    def __post_init__(self) -> None:
        if self.text_encoder not in TEXT_ENCODER_KINDS:
            raise ValueError(
                f"text_encoder must be one of {TEXT_ENCODER_KINDS}, got {self.text_encoder!r}"
            )
        if (self.text_encoder == "frozen-clip") != (self.text_config is None):
            raise ValueError("text_config is given for 'joint'/'embeddings' only")


_TOKENIZER = shapes_tokenizer()
#: The text encoder of the shapes models: 2 pre-LN blocks of width 64, CLIP's layout.
SHAPES_TEXT = TextEncoderConfig(
    vocab_size=_TOKENIZER.vocab_size,
    context_length=_TOKENIZER.context_length,
    width=64,
    num_layers=2,
    num_heads=4,
    eos_token_id=_TOKENIZER.end_token_id,
)
SD_SCHEDULE = ScheduleConfig(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)


def _unet(base: int, num_res_blocks: int) -> UNetConfig:
    """A two-level UNet on 4x8x8 latents, cross-attention on the caption at both levels."""
    return UNetConfig(
        in_channels=4,
        out_channels=4,
        base_channels=base,
        channel_mult=(1, 2),
        num_res_blocks=num_res_blocks,
        attention_levels=(1,),
        num_heads=4,
        norm_groups=16,
        class_conditioning="cross_attention",
        context_dim=SHAPES_TEXT.width,
    )


JUDGE_RECIPES: dict[str, JudgeRecipe] = {
    "shapes-judge": JudgeRecipe(
        summary="caption judge: shape, colour, size, position of a shapes image",
        train=TrainConfig(
            steps=1200, batch_size=64, lr=2e-3, warmup_steps=50, ema_decay=None, seed=0
        ),
    ),
}

CLIP_RECIPES: dict[str, MiniCLIPRecipe] = {
    "shapes-clip": MiniCLIPRecipe(
        summary="mini-CLIP on captioned shapes (text encoder 2x64, CNN image encoder)",
        config=MiniCLIPConfig(text=SHAPES_TEXT, image_widths=(32, 64, 128), embed_dim=64),
        train=TrainConfig(steps=1500, batch_size=128, lr=1e-3, warmup_steps=100, seed=0),
    ),
}


def _comparison(kind: str, steps: int) -> TextToImageRecipe:
    """One arm of the frozen / joint / embeddings comparison: same UNet, same budget."""
    text = None
    if kind == "joint":
        text = SHAPES_TEXT
    elif kind == "embeddings":
        text = TextEncoderConfig(**{**SHAPES_TEXT.to_dict(), "num_layers": 0})
    return TextToImageRecipe(
        summary=f"text-to-image comparison at {steps} steps: text encoder {kind}",
        autoencoder="shapes-kl-f4",
        text_encoder=kind,
        text_config=text,
        unet=_unet(32, 1),
        schedule=SD_SCHEDULE,
        train=TrainConfig(
            steps=steps,
            batch_size=32,
            lr=1e-3,
            warmup_steps=100,
            ema_decay=0.999,
            ema_warmup=True,
            seed=0,
        ),
        description=f"text-to-image LDM on shapes, text encoder: {kind} (10.4.2 comparison)",
    )


T2I_RECIPES: dict[str, TextToImageRecipe] = {
    "shapes-t2i": TextToImageRecipe(
        summary="text-to-image LDM on shapes-kl-f4 latents, frozen mini-CLIP text encoder",
        autoencoder="shapes-kl-f4",
        text_encoder="frozen-clip",
        unet=_unet(32, 1),
        schedule=SD_SCHEDULE,
        train=TrainConfig(
            steps=2500,
            batch_size=32,
            lr=1e-3,
            warmup_steps=200,
            ema_decay=0.999,
            ema_warmup=True,
            seed=0,
        ),
    ),
    "shapes-t2i-frozen": _comparison("frozen-clip", 800),
    "shapes-t2i-joint": _comparison("joint", 800),
    "shapes-t2i-embeddings": _comparison("embeddings", 800),
}
