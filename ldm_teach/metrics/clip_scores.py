"""How well a mini-CLIP matches captions and images: zero-shot attribute classification
and caption -> image retrieval (Radford et al. 2021, arXiv:2103.00020, Sec. 3.1).

Zero-shot classification scores an image against every candidate caption (the 216 shapes
captions, written as prompts) and takes the best one; an attribute is right if the best
caption has the image's value of it. Retrieval asks, for each caption, which image of a
gallery (one render per caption) scores highest; top-1 is right if that image is the
caption's own.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ldm_teach.data.shapes import ATTRIBUTES, all_attributes, caption_for
from ldm_teach.text import WordTokenizer
from ldm_teach.text.mini_clip import MiniCLIP

__all__ = ["clip_retrieval", "clip_zero_shot"]


@torch.no_grad()
def _text_embeddings(clip: MiniCLIP, tokenizer: WordTokenizer, captions: list[str]) -> Tensor:
    return clip.encode_text(tokenizer(captions).input_ids)  # (K, P)


@torch.no_grad()
def clip_zero_shot(
    clip: MiniCLIP,
    tokenizer: WordTokenizer,
    images: Tensor,
    attributes: Sequence[dict[str, str]],
    candidates: Sequence[dict[str, str]] | None = None,
) -> dict[str, float]:
    """Zero-shot attribute accuracy of ``clip`` on ``images``.

    Args:
        clip: a MiniCLIP (put in eval mode).
        tokenizer: its tokenizer.
        images: (N, 3, H, W) in [-1, 1].
        attributes: the N images' attribute dicts.
        candidates: the captions to choose from, as attribute dicts (default all 216).
    Returns:
        {"shape", "colour", "size", "position": accuracy in [0, 1], "caption": fraction
        whose best caption is exactly right, "num_images": N}.
    Raises:
        ValueError: if images and attributes differ in number.
    """
    if images.ndim != 4 or images.shape[0] != len(attributes) or len(attributes) == 0:
        raise ValueError("need (N, 3, H, W) images and N attribute dicts, N >= 1")
    clip.eval()
    cands = list(all_attributes() if candidates is None else candidates)
    text = _text_embeddings(clip, tokenizer, [caption_for(a) for a in cands])  # (K, P)
    best = (clip.encode_image(images) @ text.T).argmax(1).tolist()  # (N,)
    right = {
        a: [cands[b][a] == t[a] for b, t in zip(best, attributes, strict=True)] for a in ATTRIBUTES
    }
    every = [all(right[a][i] for a in ATTRIBUTES) for i in range(len(best))]
    return {
        **{a: sum(r) / len(r) for a, r in right.items()},
        "caption": sum(every) / len(every),
        "num_images": len(best),
    }


@torch.no_grad()
def clip_retrieval(
    clip: MiniCLIP, tokenizer: WordTokenizer, images: Tensor, attributes: Sequence[dict[str, str]]
) -> float:
    """Caption -> image top-1 accuracy over a gallery with one image per distinct caption.

    Args:
        images: (N, 3, H, W) in [-1, 1], the gallery; attributes: their N dicts, distinct.
    Returns:
        The fraction of the N captions whose highest-scoring gallery image is their own.
    Raises:
        ValueError: if two gallery images share a caption (top-1 would be ambiguous).
    """
    captions = [caption_for(a) for a in attributes]
    if len(set(captions)) != len(captions):
        raise ValueError("the gallery must hold one image per caption, no caption twice")
    clip.eval()
    scores = _text_embeddings(clip, tokenizer, captions) @ clip.encode_image(images).T  # (N, N)
    hits = scores.argmax(1) == torch.arange(len(captions))
    return float(hits.float().mean())
