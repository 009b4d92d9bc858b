"""The fine-tuning loop shared by LoRA, textual inversion and DreamBooth (course Sec. 10.5.2).

All three minimise the model's own training loss, LDM Eq. 3 (Rombach et al. 2022,
arXiv:2112.10752), over a handful of captioned images; they differ only in which tensors
are trained (and DreamBooth adds a prior term):

    for step in range(steps):
        batch   = batch_size examples drawn without replacement
        L       = E || ε - ε_θ(z_t, t, τ(c)) ||²  (+ extra_loss)     ``model.loss``
        θ_train ← Adam(θ_train, ∇L)                                   only ``params``
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ldm_teach.argcheck import check_int, check_real
from ldm_teach.pipelines import TextToImage


def encode_examples(
    model: TextToImage, images: Tensor, captions: Sequence[str]
) -> tuple[Tensor, Tensor]:
    """Images and captions -> (scaled latents z0 (N, c, h, w), caption ids (N, L) int64).

    Args:
        model: the text-to-image model whose autoencoder and tokenizer are used.
        images: (N, 3, H, W) float32 in [-1, 1], H and W divisible by f.
        captions: N strings in the model's tokenizer's vocabulary.
    Raises:
        ValueError: if images is not a 4-D tensor, the counts differ, or a caption holds
            an unknown word.
    """
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty (N, 3, H, W) tensor, got {images!r:.80}")
    if isinstance(captions, str) or len(captions) != images.shape[0]:
        raise ValueError(
            f"captions must be a list of {images.shape[0]} strings (one per image), "
            f"got {captions!r:.100}"
        )
    z0 = model.encode(images.to(model.device))
    return z0, model.tokenize(list(captions))


@torch.no_grad()
def fixed_seed_loss(
    model: TextToImage, z0: Tensor, input_ids: Tensor, seed: int = 0, draws: int = 4
) -> float:
    """``model.loss`` averaged over ``draws`` seeded draws of (t, ε): the same draws each
    call, so two calls compare the weights, not the noise. Eval mode; returns a float."""
    check_int(draws, "draws", lo=1)
    generator = torch.Generator().manual_seed(check_int(seed, "seed", lo=0))
    was_training = model.training
    model.eval()
    total = sum(float(model.loss(z0, input_ids, generator=generator)) for _ in range(draws))
    model.train(was_training)
    return total / draws


def finetune(
    model: TextToImage,
    params: Sequence[nn.Parameter],
    z0: Tensor,
    input_ids: Tensor,
    steps: int,
    lr: float,
    generator: torch.Generator | None = None,
    batch_size: int = 8,
    extra_loss: Callable[[torch.Generator | None], Tensor] | None = None,
) -> list[float]:
    """Minimise ``model.loss`` (+ ``extra_loss(generator)``) over ``params`` with Adam.

    Args:
        model: a TextToImage; left in eval mode afterwards.
        params: the tensors to train (requires_grad True); no others are stepped. Adam has
            no weight decay, so an entry whose gradient is exactly zero does not move.
        z0, input_ids: the examples, (N, c, h, w) and (N, L) (:func:`encode_examples`).
        steps: optimiser steps, int >= 1.
        lr: learning rate, > 0.
        generator: seeds the batches, timesteps and noise (CPU generator).
        batch_size: examples per step, capped at N.
        extra_loss: an extra term added to each step's loss (DreamBooth's prior loss).
    Returns:
        The loss of each step (floats, the total with ``extra_loss``).
    Raises:
        ValueError: on a bad number, an empty ``params`` or one that does not require grad.
    """
    steps = check_int(steps, "steps", lo=1)
    lr = check_real(lr, "lr", lo=0.0, lo_open=True)
    batch_size = check_int(batch_size, "batch_size", lo=1)
    params = list(params)
    if not params or not all(isinstance(p, Tensor) and p.requires_grad for p in params):
        raise ValueError("params must be a non-empty list of tensors that require grad")
    optimizer = torch.optim.Adam(params, lr=lr)
    N = z0.shape[0]
    losses = []
    model.train()
    try:
        for _ in range(steps):
            idx = torch.randperm(N, generator=generator)[: min(batch_size, N)]
            loss = model.loss(z0[idx], input_ids[idx], generator=generator)
            if extra_loss is not None:
                loss = loss + extra_loss(generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    finally:
        model.eval()
    return losses
