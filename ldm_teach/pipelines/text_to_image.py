"""Text-to-image latent diffusion: Stable Diffusion's layout at the size of a laptop
(Rombach et al. 2022, arXiv:2112.10752, Sec. 3.3, Eq. 3; the chapter's Sec. 10.4).

    c      = τ_θ(tokenizer(caption))                 (B, L, D) text encoder hidden states
    z0     = scale_factor · E(x)                      stage-1 latent (frozen autoencoder)
    L_LDM  = E || target - ε_θ(z_t, t, c) ||²         LDM Eq. 3; target ε (or v)
    sample: z_T ~ N(0, I) -> DDIM with guidance -> x = D(z0 / scale_factor)

Classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598, Eq. 6) with a prompt:
training replaces the caption by the empty prompt "" with probability ``cond_drop_prob``;
sampling combines

    ε̃ = ε(z_t, c_neg) + w (ε(z_t, c) - ε(z_t, c_neg)),   w = guidance_scale

where c_neg is the encoded *negative prompt*, "" by default: a negative prompt simply takes
the place of the unconditional branch, which is how Stable Diffusion's pipelines implement
it. Guidance rescale φ (Lin et al. 2023, Sec. 3.4) can follow. Both branches run in one
UNet call on a batch of 2B (``batch_guidance=True``, the default, as diffusers), or in two
calls on B each (``False``: the same numbers, less memory, more per-call overhead;
course Sec. 10.4.4 measures the difference).

The text encoder is frozen by default, as in Stable Diffusion (``train_text_encoder=False``);
the course's comparison trains it jointly instead (``True``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.argcheck import check_bool, check_int, check_real
from ldm_teach.diffusion import (
    NoiseSchedule,
    ScheduleConfig,
    classifier_free_guidance,
    get_v,
    q_sample,
    rescale_guidance,
)
from ldm_teach.models import UNet
from ldm_teach.models.latent_diffusion import check_guidance_scale
from ldm_teach.pipelines.denoise import denoise_loop, sampling_timesteps
from ldm_teach.pipelines.prompt_inputs import SPACINGS, as_prompts, check_parts, start_latents
from ldm_teach.text import TextEncoder, WordTokenizer


class TextToImage(nn.Module):
    """Autoencoder + text encoder + cross-attention UNet + noise schedule.

    Args:
        autoencoder: stage 1 (an AutoencoderKL); frozen.
        unet: a UNet with ``context_dim`` = the text encoder's width and in/out channels =
            the latent channels.
        text_encoder: a :class:`~ldm_teach.text.TextEncoder` (e.g. a trained mini-CLIP's).
        tokenizer: its :class:`~ldm_teach.text.WordTokenizer` (same vocabulary and end token).
        schedule_config: the training noise schedule.
        scale_factor: latents are multiplied by it before diffusion, finite and > 0.
        image_size: H = W of the training images (the default sampling size).
        cond_drop_prob: probability of training on the empty prompt, in [0, 1).
        prediction_type: "epsilon" or "v_prediction" (or "sample"), honoured in training
            and sampling.
        train_text_encoder: train the text encoder with the UNet (joint) instead of
            keeping it frozen.
        steps_offset, set_alpha_to_one, timestep_spacing: the sampler's conventions, as in
            a diffusers scheduler config (Stable Diffusion 1.x: 1, False, "leading"; the
            course's models: 0, True, "leading").
    Raises:
        ValueError: naming the part that does not fit: widths, channels, vocabulary,
            end token, or an out-of-range number.
    """

    def __init__(
        self,
        autoencoder: nn.Module,
        unet: UNet,
        text_encoder: TextEncoder,
        tokenizer: WordTokenizer,
        schedule_config: ScheduleConfig,
        scale_factor: float,
        image_size: int = 32,
        cond_drop_prob: float = 0.1,
        prediction_type: str = "epsilon",
        train_text_encoder: bool = False,
        steps_offset: int = 0,
        set_alpha_to_one: bool = True,
        timestep_spacing: str = "leading",
    ) -> None:
        super().__init__()
        check_parts(autoencoder, unet, text_encoder, tokenizer, schedule_config, prediction_type)
        self.autoencoder = autoencoder.eval().requires_grad_(False)
        self.unet = unet
        self.train_text_encoder = check_bool(train_text_encoder, "train_text_encoder")
        self.text_encoder = text_encoder.requires_grad_(self.train_text_encoder)
        self.tokenizer = tokenizer
        self.schedule = NoiseSchedule(schedule_config)
        self.image_size = check_int(image_size, "image_size", lo=1)
        self.cond_drop_prob = check_real(cond_drop_prob, "cond_drop_prob", lo=0.0, hi=0.999)
        self.prediction_type = prediction_type
        scale = check_real(scale_factor, "scale_factor", lo=0.0, lo_open=True)
        self.register_buffer("scale_factor", torch.tensor(scale))
        self.steps_offset = check_int(steps_offset, "steps_offset", lo=0)
        self.set_alpha_to_one = check_bool(set_alpha_to_one, "set_alpha_to_one")
        if timestep_spacing not in SPACINGS:
            raise ValueError(
                f"timestep_spacing must be one of {SPACINGS}, got {timestep_spacing!r}"
            )
        self.timestep_spacing = timestep_spacing

    def timesteps(self, num_inference_steps: int, spacing: str | None = None) -> list[int]:
        """The descending DDIM timesteps of a run (``spacing`` None: the model's)."""
        spacing = self.timestep_spacing if spacing is None else spacing
        return sampling_timesteps(self.schedule, num_inference_steps, spacing, self.steps_offset)

    def denoise(self, model_fn, z: Tensor, timesteps: list[int], **kwargs) -> Tensor:
        """:func:`~ldm_teach.pipelines.denoise_loop` with the model's schedule, prediction
        type and final ᾱ (``kwargs``: eta, generator, progress, after_step)."""
        return denoise_loop(
            model_fn,
            z,
            timesteps,
            self.schedule,
            self.prediction_type,
            set_alpha_to_one=self.set_alpha_to_one,
            **kwargs,
        )

    def train(self, mode: bool = True) -> TextToImage:
        super().train(mode)
        self.autoencoder.eval()
        if not self.train_text_encoder:
            self.text_encoder.eval()
        return self

    @property
    def device(self) -> torch.device:
        return self.scale_factor.device

    # -- text ------------------------------------------------------------------------------
    def tokenize(self, prompts: str | Sequence[str]) -> Tensor:
        """Prompts -> (B, L) int64 token ids on the model's device."""
        return self.tokenizer(as_prompts(prompts)).input_ids.to(self.device)

    def encode_text(self, input_ids: Tensor) -> Tensor:
        """(B, L) ids -> (B, L, D) context, the text encoder's last hidden states; no
        gradient unless the text encoder is trained jointly (and in train mode)."""
        with torch.set_grad_enabled(self.train_text_encoder and torch.is_grad_enabled()):
            return self.text_encoder(input_ids).last_hidden_state

    # -- images ----------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """Images (B, 3, H, W) in [-1, 1] -> scaled latents z0 = scale_factor · mode(E(x))."""
        return self.autoencoder.encode(x).mode() * self.scale_factor

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """Scaled latents -> images in [-1, 1] (clamped)."""
        return self.autoencoder.decode(z / self.scale_factor).clamp(-1.0, 1.0)

    # -- training --------------------------------------------------------------------------
    def loss(
        self, z0: Tensor, input_ids: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """LDM Eq. 3 on scaled latents z0 (B, c, h, w) and caption ids (B, L).

        With probability ``cond_drop_prob`` a caption is replaced by the empty prompt, so
        one network learns both ε(z_t, c) and ε(z_t, "") (classifier-free guidance).
        Returns the scalar MSE to ε (or v, or z0, by ``prediction_type``).
        """
        B, dev = z0.shape[0], z0.device
        t = torch.randint(0, self.schedule.num_train_timesteps, (B,), generator=generator).to(dev)
        eps = torch.randn(z0.shape, generator=generator, dtype=z0.dtype).to(dev)
        z_t = q_sample(z0, t, eps, self.schedule)
        if self.cond_drop_prob > 0:
            drop = (torch.rand(B, generator=generator) < self.cond_drop_prob).to(dev)
            null = self.tokenize("").expand(B, -1)
            input_ids = torch.where(drop[:, None], null, input_ids)
        if self.prediction_type == "epsilon":
            target = eps
        elif self.prediction_type == "v_prediction":
            target = get_v(z0, eps, t, self.schedule)
        else:
            target = z0
        return F.mse_loss(self.unet(z_t, t, context=self.encode_text(input_ids)), target)

    # -- guidance --------------------------------------------------------------------------
    def guided_output(
        self,
        z_t: Tensor,
        t: Tensor,
        context: Tensor,
        uncond_context: Tensor | None,
        guidance_scale: float,
        guidance_rescale: float = 0.0,
        batch_guidance: bool = True,
    ) -> Tensor:
        """The UNet's output at (z_t, t) with classifier-free guidance.

        ``uncond_context`` is the encoded negative prompt ("" by default); with
        guidance_scale = 1 (or no uncond_context) it is not evaluated. Otherwise both
        branches run in one batch of 2B, the unconditional half first
        (``batch_guidance=True``), or in two UNet calls of B, unconditional first.
        """
        dtype = self._unet_dtype()  # a float16 UNet (GPU) reads float16 inputs
        if guidance_scale == 1.0 or uncond_context is None:
            return self.unet(z_t.to(dtype), t, context=context.to(dtype)).to(z_t.dtype)
        if batch_guidance:
            both = self.unet(
                torch.cat([z_t, z_t]).to(dtype),
                torch.cat([t, t]),
                context=torch.cat([uncond_context, context]).to(dtype),
            ).to(z_t.dtype)
            out_uncond, out_cond = both.chunk(2)
        else:
            out_uncond = self.unet(z_t.to(dtype), t, context=uncond_context.to(dtype))
            out_cond = self.unet(z_t.to(dtype), t, context=context.to(dtype))
            out_uncond, out_cond = out_uncond.to(z_t.dtype), out_cond.to(z_t.dtype)
        guided = classifier_free_guidance(out_uncond, out_cond, guidance_scale)
        return rescale_guidance(guided, out_cond, guidance_rescale)

    def _unet_dtype(self) -> torch.dtype:
        """The dtype of the UNet's weights (through wrappers such as DeepCacheUNet)."""
        unet = self.unet
        while not hasattr(unet, "conv_in") and hasattr(unet, "unet"):
            unet = unet.unet
        weight = getattr(getattr(unet, "conv_in", None), "weight", None)
        return torch.float32 if weight is None else weight.dtype

    def encode_prompts(
        self,
        prompts: str | Sequence[str],
        negative_prompt: str | Sequence[str] | None,
        guidance_scale: float,
    ) -> tuple[list[str], Tensor, Tensor | None]:
        """(prompts as a list, context (B, L, D), unconditional context or None).

        The unconditional context encodes ``negative_prompt`` (one, or one per prompt;
        None means ""), and is None when guidance_scale = 1 (not needed).

        Raises:
            ValueError: on a negative prompt with guidance_scale = 1, a count mismatch, or
                an unknown word.
        """
        prompts = as_prompts(prompts)
        context = self.encode_text(self.tokenize(prompts))
        if guidance_scale == 1.0:
            if negative_prompt is not None:
                raise ValueError(
                    "negative_prompt replaces the unconditional branch of guidance, which "
                    "guidance_scale=1 does not use: give a guidance_scale != 1"
                )
            return prompts, context, None
        negative = as_prompts("" if negative_prompt is None else negative_prompt, "negative_prompt")
        if len(negative) == 1:
            negative = negative * len(prompts)
        if len(negative) != len(prompts):
            raise ValueError(
                f"negative_prompt must be one prompt or one per prompt ({len(prompts)}), "
                f"got {len(negative)}"
            )
        return prompts, context, self.encode_text(self.tokenize(negative))

    # -- sampling --------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        prompts: str | Sequence[str],
        *,
        negative_prompt: str | Sequence[str] | None = None,
        guidance_scale: float = 3.0,
        guidance_rescale: float = 0.0,
        num_inference_steps: int = 25,
        eta: float = 0.0,
        spacing: str | None = None,
        timesteps: list[int] | None = None,
        generator: torch.Generator | None = None,
        x_T: Tensor | None = None,
        image_size: int | None = None,
        height: int | None = None,
        width: int | None = None,
        progress: bool = False,
        return_latents: bool = False,
        step_callback: Callable[[int, int, Tensor], None] | None = None,
        batch_guidance: bool = True,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Text -> images with DDIM (Song et al. 2020) and classifier-free guidance.

        Args:
            prompts: a caption or a list of B captions, in the tokenizer's vocabulary.
            negative_prompt: what to steer away from; one prompt or B prompts; None is "".
            guidance_scale: w in [0, 100] (1: no guidance; Stable Diffusion uses 7.5).
            guidance_rescale: φ in [0, 1] (Lin et al. 2023 use 0.7).
            num_inference_steps: DDIM steps, in [1, T].
            eta: η in [0, 1]; 0 is deterministic.
            spacing: "leading", "trailing" or "linspace" (use "trailing" with a
                zero-terminal-SNR schedule and v-prediction); None: the model's
                ``timestep_spacing``.
            timesteps: visit exactly these strictly descending ints in [0, T-1] instead
                (diffusers' ``timesteps=``), e.g. a resolution-shifted list from
                :func:`~ldm_teach.pipelines.resolution.shifted_timesteps`.
            generator: seeds z_T and the DDIM noise.
            x_T: the starting latents (B, c, h, w) instead of drawn ones.
            image_size / height, width: output size, each divisible by f (default the
                training size; sizes it was not trained on are Sec. 10.5.1's subject).
            progress: show a progress bar.
            return_latents: also return the final latents z0.
            step_callback: called as ``step_callback(i, t, z)`` after DDIM step i (from
                timestep t) with the latents z it produced (read only; diffusers'
                ``callback_on_step_end`` sees the same latents).
            batch_guidance: run guidance's two branches in one UNet call of 2B (True)
                or in two calls of B (False); the images agree to float rounding.
        Returns:
            images (B, 3, H, W) in [-1, 1] float32 (and z0 with ``return_latents``).
        Raises:
            ValueError: on an unknown word, a bad number or size, a negative prompt with
                guidance_scale = 1, or x_T of the wrong shape.
            RuntimeError: if sampling diverged (non-finite latents).
        """
        guidance_scale = check_guidance_scale(guidance_scale)
        batch_guidance = check_bool(batch_guidance, "batch_guidance")
        prompts, context, uncond = self.encode_prompts(prompts, negative_prompt, guidance_scale)
        shape = (len(prompts), *self.latent_shape(image_size, height, width))
        z = start_latents(shape, x_T, generator, self.device)
        if timesteps is None:
            timesteps = self.timesteps(num_inference_steps, spacing)
        after_step = None
        if step_callback is not None:

            def after_step(i: int, t_next: int, z_next: Tensor) -> Tensor:
                step_callback(i, timesteps[i], z_next)
                return z_next

        def model_fn(z_t: Tensor, t: Tensor) -> Tensor:
            return self.guided_output(
                z_t, t, context, uncond, guidance_scale, guidance_rescale, batch_guidance
            )

        self.eval()
        z0 = self.denoise(
            model_fn,
            z,
            timesteps,
            eta=eta,
            generator=generator,
            progress=progress,
            after_step=after_step,
        )
        images = self.decode(z0)
        return (images, z0) if check_bool(return_latents, "return_latents") else images

    def latent_shape(
        self, image_size: int | None = None, height: int | None = None, width: int | None = None
    ) -> tuple[int, int, int]:
        """(c, H / f, W / f) of an image; default the training size.

        Raises:
            ValueError: if a size is not a positive int divisible by f, or image_size is
                given with height or width.
        """
        if image_size is not None and (height is not None or width is not None):
            raise ValueError("give image_size or height/width, not both")
        side = self.image_size if image_size is None else image_size
        H = side if height is None else height
        W = side if width is None else width
        f = self.autoencoder.downsample_factor
        for name, v in (("height", H), ("width", W)):
            check_int(v, name, lo=f, expected=f"an int >= {f}")
            if v % f:
                raise ValueError(f"{name} must be divisible by f={f}, got {v}")
        return (self.autoencoder.config.latent_channels, H // f, W // f)
