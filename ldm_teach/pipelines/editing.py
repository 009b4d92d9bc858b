"""Editing with a text-to-image model: img2img, inpainting and prompt-to-prompt.

img2img / SDEdit (Meng et al. 2021, arXiv:2108.01073, Sec. 3): noise the input's latent to
an intermediate time and denoise it under a new prompt. With n DDIM steps and ``strength``
s in (0, 1], the run starts at step n - round(s n) of the schedule:

    z_τ = sqrt(ᾱ_τ) z0(x) + sqrt(1 - ᾱ_τ) ε,    τ = timesteps[n - round(s n)]

s -> 0 returns the input, s = 1 ignores it (pure text-to-image): faithfulness against
adherence to the prompt (diffusers' ``StableDiffusionImg2ImgPipeline`` convention).

Inpainting in latent space (blended latent diffusion, Avrahami et al. 2023,
arXiv:2206.02779, Alg. 1): after every step, the latents outside the mask are replaced by
the input's latents noised to the same time, so only the masked region is generated:

    z_{t'} ← m ⊙ z_{t'} + (1 - m) ⊙ (sqrt(ᾱ_{t'}) z0(x) + sqrt(1 - ᾱ_{t'}) ε)

with m the mask downsampled to the latent grid (1 = regenerate). After the last step the
known region is z0(x) itself.

Prompt-to-prompt word swap (Hertz et al. 2022, arXiv:2208.01626, Sec. 3.2): generate the
source and the edited prompt from the same noise in one batch, and for the first
``cross_replace`` fraction of the steps give the edited prompt the source's cross-attention
maps, so that the layout stays and only the swapped word's attribute changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ldm_teach.argcheck import check_bool, check_real
from ldm_teach.diffusion import q_sample
from ldm_teach.models.latent_diffusion import check_guidance_scale
from ldm_teach.pipelines.attention_maps import AttentionReplace, attention_control
from ldm_teach.pipelines.text_to_image import TextToImage, as_prompts


def _check_images(images: Tensor, n: int, size: int) -> None:
    if (
        not isinstance(images, Tensor)
        or images.ndim != 4
        or images.shape[0] != n
        or images.shape[1] != 3
        or images.shape[2] % size
        or images.shape[3] % size
    ):
        raise ValueError(
            f"images must be ({n}, 3, H, W) in [-1, 1], H and W divisible by {size}, "
            f"one per prompt; got {getattr(images, 'shape', type(images).__name__)}"
        )
    if not bool(torch.isfinite(images).all()) or images.abs().max() > 1.0 + 1e-4:
        raise ValueError("images must be finite and in [-1, 1]")


@torch.no_grad()
def img2img(
    model: TextToImage,
    images: Tensor,
    prompts: str | Sequence[str],
    strength: float = 0.6,
    *,
    guidance_scale: float = 3.0,
    negative_prompt: str | Sequence[str] | None = None,
    num_inference_steps: int = 25,
    generator: torch.Generator | None = None,
) -> Tensor:
    """SDEdit: re-generate ``images`` under ``prompts`` from noise level ``strength``.

    Args:
        model: a trained :class:`TextToImage`.
        images: (B, 3, H, W) in [-1, 1], one per prompt.
        prompts: B captions (or one, for B = 1).
        strength: s in (0, 1], the fraction of the schedule that is run.
    Returns:
        (B, 3, H, W) in [-1, 1].
    Raises:
        ValueError: on a bad strength, image tensor or prompt (as ``TextToImage.sample``).
    """
    prompts = as_prompts(prompts)
    s = check_real(strength, "strength", lo=0.0, hi=1.0, lo_open=True)
    guidance_scale = check_guidance_scale(guidance_scale)
    _check_images(images, len(prompts), model.autoencoder.downsample_factor)
    prompts, context, uncond = model.encode_prompts(prompts, negative_prompt, guidance_scale)
    timesteps = model.timesteps(num_inference_steps)
    timesteps = timesteps[len(timesteps) - max(1, round(s * len(timesteps))) :]
    z0 = model.encode(images.to(model.device))
    eps = torch.randn(z0.shape, generator=generator).to(z0.device)
    t0 = torch.full((z0.shape[0],), timesteps[0], dtype=torch.long, device=z0.device)
    z = q_sample(z0, t0, eps, model.schedule)  # z_τ

    def model_fn(z_t: Tensor, t: Tensor) -> Tensor:
        return model.guided_output(z_t, t, context, uncond, guidance_scale)

    model.eval()
    z = model.denoise(model_fn, z, timesteps)
    return model.decode(z)


@torch.no_grad()
def inpaint(
    model: TextToImage,
    images: Tensor,
    mask: Tensor,
    prompts: str | Sequence[str],
    *,
    guidance_scale: float = 3.0,
    negative_prompt: str | Sequence[str] | None = None,
    num_inference_steps: int = 25,
    generator: torch.Generator | None = None,
    return_latents: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Regenerate the masked region of ``images`` under ``prompts``; keep the rest.

    Args:
        images: (B, 3, H, W) in [-1, 1].
        mask: (B, 1, H, W) or (B, H, W), bool or float in [0, 1]; 1 (True) = regenerate.
            On the latent grid a latent pixel is regenerated if any of its f x f image
            pixels is (max-pooling), so the region is never shrunk.
        return_latents: also return the final latents, equal to the input's latents
            outside the latent mask.
    Returns:
        (B, 3, H, W) in [-1, 1]: outside the mask close to the input passed through the
        autoencoder (the decoder's GroupNorm and receptive field mix the two regions a
        little), inside it a new sample; with ``return_latents`` also the latents.
    Raises:
        ValueError: on a mask of another size or with values outside [0, 1], or as
            :func:`img2img`.
    """
    prompts = as_prompts(prompts)
    guidance_scale = check_guidance_scale(guidance_scale)
    f = model.autoencoder.downsample_factor
    _check_images(images, len(prompts), f)
    m = _latent_mask(mask, images, f).to(model.device)  # (B, 1, h, w)
    prompts, context, uncond = model.encode_prompts(prompts, negative_prompt, guidance_scale)
    timesteps = model.timesteps(num_inference_steps)
    known = model.encode(images.to(model.device))  # z0 of the input
    eps = torch.randn(known.shape, generator=generator).to(known.device)
    z = torch.randn(known.shape, generator=generator).to(known.device)

    def model_fn(z_t: Tensor, t: Tensor) -> Tensor:
        return model.guided_output(z_t, t, context, uncond, guidance_scale)

    def blend(i: int, t_next: int, z_next: Tensor) -> Tensor:
        if t_next < 0:
            kept = known  # the last step lands on z0 itself
        else:
            tb = torch.full((known.shape[0],), t_next, dtype=torch.long, device=known.device)
            kept = q_sample(known, tb, eps, model.schedule)
        return m * z_next + (1 - m) * kept

    model.eval()
    z = model.denoise(model_fn, z, timesteps, after_step=blend)
    images = model.decode(z)
    return (images, z) if check_bool(return_latents, "return_latents") else images


def _latent_mask(mask: Tensor, images: Tensor, f: int) -> Tensor:
    B, _, H, W = images.shape
    if isinstance(mask, Tensor) and mask.ndim == 3:
        mask = mask[:, None]
    if not isinstance(mask, Tensor) or tuple(mask.shape) != (B, 1, H, W):
        raise ValueError(
            f"mask must be ({B}, 1, {H}, {W}) or ({B}, {H}, {W}), got "
            f"{getattr(mask, 'shape', type(mask).__name__)}"
        )
    mask = mask.float()
    if not bool(((mask >= 0) & (mask <= 1)).all()):
        raise ValueError("mask values must be in [0, 1] (1 = regenerate)")
    return F.max_pool2d(mask, f)  # (B, 1, H/f, W/f)


@torch.no_grad()
def prompt_to_prompt(
    model: TextToImage,
    source: str,
    targets: str | Sequence[str],
    *,
    cross_replace: float = 0.8,
    guidance_scale: float = 3.0,
    num_inference_steps: int = 25,
    generator: torch.Generator | None = None,
    x_T: Tensor | None = None,
) -> Tensor:
    """Word-swap editing: the source image and its edits, from one noise.

    Args:
        source: the source caption.
        targets: one or k edited captions with as many tokens as the source (a word
            swap, e.g. "red" -> "blue"), so that token positions line up.
        cross_replace: fraction of the steps, from the first, that inject the source's
            cross-attention maps into the edits, in [0, 1] (0: plain regeneration from
            the same noise).
        x_T: (1, c, h, w) starting noise, shared by all; drawn from ``generator`` if None.
    Returns:
        (1 + k, 3, H, W) in [-1, 1]: the source image first, then the edits.
    Raises:
        ValueError: if a target has a different number of tokens, or on a bad number.
    """
    targets = as_prompts(targets, "targets")
    frac = check_real(cross_replace, "cross_replace", lo=0.0, hi=1.0)
    guidance_scale = check_guidance_scale(guidance_scale)
    lengths = model.tokenizer([source, *targets]).attention_mask.sum(1).tolist()
    if len(set(lengths)) != 1:
        raise ValueError(
            f"a word swap needs prompts of equal token count; got {lengths} for "
            f"{[source, *targets]}"
        )
    prompts = [source, *targets]
    shape = (1, *model.latent_shape())
    if x_T is None:
        x_T = torch.randn(shape, generator=generator)
    elif tuple(x_T.shape) != shape:
        raise ValueError(f"x_T must have shape {shape}, got {tuple(x_T.shape)}")
    z = x_T.to(model.device).expand(len(prompts), -1, -1, -1).clone()
    prompts, context, uncond = model.encode_prompts(prompts, None, guidance_scale)
    timesteps = model.timesteps(num_inference_steps)
    controller = AttentionReplace(guided=uncond is not None)
    inject_steps = round(frac * len(timesteps))
    step = [0]

    def model_fn(z_t: Tensor, t: Tensor) -> Tensor:
        controller.active = step[0] < inject_steps
        step[0] += 1
        return model.guided_output(z_t, t, context, uncond, guidance_scale)

    model.eval()
    with attention_control(model.unet, controller):
        z = model.denoise(model_fn, z, timesteps)
    return model.decode(z)
