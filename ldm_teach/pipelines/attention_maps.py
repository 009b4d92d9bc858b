"""Per-word cross-attention maps, DAAM-style (Tang et al. 2022, arXiv:2210.04885, Sec. 3),
and the controller that prompt-to-prompt uses to inject them (Hertz et al. 2022,
arXiv:2208.01626, Sec. 3.2).

Every cross-attention layer of the UNet computes, for each pixel n of its feature map and
each prompt token m, a softmax weight A[b, head, n, m] (LDM Eq. 3). DAAM's map of token m is

    D_m(x, y) = Σ_layers Σ_steps Σ_heads upsample(A[:, head, :, m] as an h x w grid)(x, y)

bilinearly upsampled from each layer's resolution to the image size, then summed. Dividing
by its maximum gives a heat map in [0, 1] that says where the word "lands" in the image.

With classifier-free guidance the UNet sees a batch of 2B (unconditional half first); the
maps are read from the conditional half only.

Shape alphabet: B prompts, h heads, N = hh * ww pixels of a layer, M tokens, H x W image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.nn.cross_attention import CrossAttention


def cross_attention_layers(unet: nn.Module) -> dict[str, CrossAttention]:
    """The UNet's cross-attention layers (the ``attn2`` of each transformer block), by name."""
    return {
        name: m
        for name, m in unet.named_modules()
        if isinstance(m, CrossAttention) and name.endswith("attn2")
    }


@contextmanager
def attention_control(
    unet: nn.Module, control: Callable[[str, CrossAttention, Tensor], Tensor]
) -> Iterator[None]:
    """Install ``control(layer_name, layer, weights) -> weights`` on every cross-attention
    layer for the duration of a ``with`` block; removed afterwards, also on an error.

    Raises:
        ValueError: if the UNet has no cross-attention layer (no ``context_dim``).
    """
    layers = cross_attention_layers(unet)
    if not layers:
        raise ValueError("this UNet has no cross-attention layers (build it with context_dim)")
    for name, layer in layers.items():
        layer.attention_control = lambda lyr, w, name=name: control(name, lyr, w)
    try:
        yield
    finally:
        for layer in layers.values():
            layer.attention_control = None


class AttentionStore:
    """Collects DAAM maps while a pipeline samples.

    Args:
        image_size: (H, W) of the output images; every layer's map is upsampled to it.
        guided: True if the UNet batch is [unconditional; conditional] (guidance_scale != 1),
            so that only the second half is read.
    Attributes:
        maps: (B, M, H, W) float32, the sum of upsampled maps over layers, heads and steps
            (None before the first call); ``calls``: how many layer calls were summed.
    """

    def __init__(self, image_size: tuple[int, int], guided: bool) -> None:
        self.image_size = image_size
        self.guided = guided
        self.maps: Tensor | None = None
        self.calls = 0

    def __call__(self, name: str, layer: CrossAttention, weights: Tensor) -> Tensor:
        w = weights.chunk(2)[1] if self.guided else weights  # (B, h, N, M) conditional
        B, h, N, M = w.shape
        H, W = self.image_size
        hh = max(1, round(math.sqrt(N * H / W)))  # the layer's grid has the image's aspect
        ww = N // hh
        if hh * ww != N:
            raise ValueError(f"{name}: {N} pixels do not form a grid of aspect {H}:{W}")
        grid = w.sum(1).transpose(1, 2).reshape(B, M, hh, ww).float()  # (B, M, hh, ww)
        up = F.interpolate(grid, size=self.image_size, mode="bilinear", align_corners=False)
        self.maps = up if self.maps is None else self.maps + up
        self.calls += 1
        return weights

    def normalized(self) -> Tensor:
        """The maps divided by each map's maximum: (B, M, H, W) in [0, 1].

        Raises:
            RuntimeError: if nothing was recorded (no cross-attention call ran).
        """
        if self.maps is None:
            raise RuntimeError("no attention was recorded: sample inside the store's context")
        peak = self.maps.flatten(2).amax(-1).clamp_min(1e-12)[..., None, None]  # (B, M, 1, 1)
        return self.maps / peak


class AttentionReplace:
    """Prompt-to-prompt's word-swap controller (Hertz et al. 2022, Sec. 3.2, Eq. "Word
    Swap"): while active, the target prompts' cross-attention maps are replaced by the
    source prompt's, so the edited image keeps the source's layout.

    The conditional batch is [source, target_1, ..., target_k]; the unconditional half
    (with guidance) is left alone. ``active`` is switched by the pipeline per step.
    """

    def __init__(self, guided: bool) -> None:
        self.guided = guided
        self.active = True

    def __call__(self, name: str, layer: CrossAttention, weights: Tensor) -> Tensor:
        if not self.active:
            return weights
        if self.guided:
            uncond, cond = weights.chunk(2)
        else:
            uncond, cond = None, weights
        cond = torch.cat([cond[:1], cond[:1].expand(cond.shape[0] - 1, -1, -1, -1)])
        return cond if uncond is None else torch.cat([uncond, cond])


@torch.no_grad()
def word_attention_maps(model, prompts, return_raw: bool = False, **sample_kwargs) -> tuple:
    """Sample ``prompts`` with a :class:`~ldm_teach.pipelines.TextToImage` and collect
    each token's DAAM map.

    Args:
        model: a TextToImage.
        prompts: a caption or a list of B captions.
        return_raw: also return the unnormalised sums (see Returns).
        sample_kwargs: passed to ``model.sample`` (guidance_scale, num_inference_steps,
            generator, ...).
    Returns:
        (images (B, 3, H, W) in [-1, 1], maps (B, M, H, W) in [0, 1] with M the
        tokenizer's context length, tokens: per prompt the token strings, start and end
        tokens included, padding left out); with ``return_raw`` also the sums before normalisation
        (B, M, H, W), whose ratios between tokens are meaningful (over all M tokens, each
        pixel's weights sum to one per head, layer and step).
    """
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if sample_kwargs.get("batch_guidance", True) is not True:
        raise ValueError(
            "batch_guidance must be True: the maps are read from the conditional half of "
            "guidance's batch of 2B"
        )
    guided = sample_kwargs.get("guidance_scale", 3.0) != 1.0
    H = W = sample_kwargs.get("image_size") or model.image_size
    H = sample_kwargs.get("height") or H
    W = sample_kwargs.get("width") or W
    store = AttentionStore((H, W), guided)
    with attention_control(model.unet, lambda name, layer, w: store(name, layer, w)):
        images = model.sample(prompts, **sample_kwargs)
    batch = model.tokenizer(prompts)
    vocab = model.tokenizer.vocab
    tokens = [
        [vocab[i] for i in ids[: int(n)].tolist()]
        for ids, n in zip(batch.input_ids, batch.attention_mask.sum(1), strict=True)
    ]
    if return_raw:
        return images, store.normalized(), tokens, store.maps
    return images, store.normalized(), tokens
