"""Textual inversion: a new word for a concept, learned as one embedding row (Gal et al.
2022, arXiv:2208.01618, Sec. 3, Eq. 2; course Sec. 10.5.2).

Everything stays frozen but the embedding v* of a placeholder word S*:

    v* = argmin_v  E || ε - ε_θ(z_t, t, τ_θ(c(S*; v))) ||²       Gal et al. Eq. 2

where c(S*; v) is a caption such as "a large red S* in the centre" whose S* token is looked
up as v. v* starts from the embedding of a related word (``initializer_token``, "triangle"
for a star). The course's :class:`~ldm_teach.text.WordTokenizer` puts the start and end
tokens after the words, so adding a word moves them up by one id: the embedding table grows
from (V, D) to (V + 1, D) as

    [ E[words] ; v_init ; E[start] ; E[end] ]                 rows 0..n-1, n, n+1, n+2

and ``eos_token_id`` moves with it. Training masks the gradient of the table to row n, and
Adam without weight decay leaves a row whose gradient is exactly zero exactly where it was:
every other row stays bit-identical. The learned vector is saved as diffusers' textual
inversion script saves it, ``{token: (1, D) tensor}`` in a safetensors file (a few hundred
bytes for D = 64; Stable Diffusion's D = 768 gives 3 kB).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ldm_teach.adapt.finetune import encode_examples, finetune
from ldm_teach.argcheck import check_bool
from ldm_teach.pipelines import TextToImage
from ldm_teach.text import WordTokenizer


def _check_word_tokenizer(model: TextToImage) -> WordTokenizer:
    if not isinstance(model, TextToImage) or not isinstance(model.tokenizer, WordTokenizer):
        raise ValueError("model must be a TextToImage with a WordTokenizer")
    return model.tokenizer


def add_placeholder_token(
    model: TextToImage,
    token: str,
    initializer_token: str | None = None,
    embedding: Tensor | None = None,
) -> int:
    """Add ``token`` to the model's tokenizer and grow its text encoder's embedding table.

    Args:
        model: a TextToImage with a :class:`~ldm_teach.text.WordTokenizer` (changed in
            place, as is ``model.text_encoder``).
        token: a new lower-case word (e.g. "sks"), not yet in the vocabulary.
        initializer_token: a word of the vocabulary whose embedding row starts the new one;
        embedding: or the (D,) or (1, D) vector itself (exactly one of the two).
    Returns:
        The new token's id n (the old start-token id; start and end move to n + 1, n + 2).
    Raises:
        ValueError: if token is already known or not one word, initializer_token is
            unknown, both or neither of initializer_token and embedding are given, or
            embedding has the wrong shape.
    """
    tokenizer = _check_word_tokenizer(model)
    if token in tokenizer.vocab:
        raise ValueError(f"token {token!r} is already in the vocabulary")
    if (initializer_token is None) == (embedding is None):
        raise ValueError("give exactly one of initializer_token and embedding")
    encoder = model.text_encoder
    table = encoder.token_embedding.weight.detach()  # (V, D)
    if initializer_token is not None:
        ids = tokenizer.encode(initializer_token)  # ValueError on an unknown word
        if len(ids) != 3:
            raise ValueError(f"initializer_token must be one word, got {initializer_token!r}")
        vector = table[ids[1]].clone()
    else:
        if not isinstance(embedding, Tensor) or embedding.numel() != table.shape[1]:
            raise ValueError(
                f"embedding must be a ({table.shape[1]},) tensor, got {embedding!r:.80}"
            )
        vector = embedding.reshape(-1).to(table)
    n = tokenizer.start_token_id
    if tokenizer.add_tokens([token]) != 1:  # ValueError if not one word
        raise ValueError(f"token must be one new word, got {token!r}")
    grown = nn.Embedding(table.shape[0] + 1, table.shape[1]).to(table)
    with torch.no_grad():
        grown.weight.copy_(torch.cat([table[:n], vector[None], table[n:]]))  # (V + 1, D)
    grown.weight.requires_grad_(encoder.token_embedding.weight.requires_grad)
    encoder.token_embedding = grown
    encoder.config = replace(
        encoder.config, vocab_size=table.shape[0] + 1, eos_token_id=tokenizer.end_token_id
    )
    return n


@contextmanager
def _only_the_row(model: TextToImage, row: int):
    """Train the text encoder's embedding row ``row`` through the frozen text encoder and
    UNet; restores every requires_grad flag and ``train_text_encoder`` afterwards."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    joint = model.train_text_encoder
    weight = model.text_encoder.token_embedding.weight
    mask = torch.zeros(weight.shape[0], 1, dtype=weight.dtype, device=weight.device)
    mask[row] = 1.0
    model.requires_grad_(False)
    weight.requires_grad_(True)
    handle = weight.register_hook(lambda grad: grad * mask)  # (V, D) -> only row `row`
    model.train_text_encoder = True  # so that encode_text keeps the graph
    try:
        yield weight
    finally:
        handle.remove()
        model.train_text_encoder = joint
        for p, flag in flags:
            p.requires_grad_(flag)


def train_textual_inversion(
    model: TextToImage,
    token: str,
    images: Tensor,
    captions: Sequence[str],
    steps: int = 200,
    lr: float = 5e-3,
    generator: torch.Generator | None = None,
    batch_size: int = 8,
) -> list[float]:
    """Learn the embedding row of ``token`` (added by :func:`add_placeholder_token`).

    Args:
        model: a TextToImage; only its text encoder's row for ``token`` changes.
        token: the placeholder word; each caption should contain it.
        images: (N, 3, H, W) float32 in [-1, 1]; captions: N strings.
        steps, lr, generator, batch_size: as :func:`~ldm_teach.adapt.finetune.finetune`.
    Returns:
        The loss of each step.
    Raises:
        ValueError: if token is not in the vocabulary or in no caption; and as
            ``finetune``.
    """
    tokenizer = _check_word_tokenizer(model)
    if token not in tokenizer.vocab:
        raise ValueError(f"token {token!r} is not in the vocabulary: add_placeholder_token first")
    if not any(token in tokenizer.split(c) for c in captions):
        raise ValueError(f"no caption contains the placeholder {token!r}")
    z0, input_ids = encode_examples(model, images, captions)
    row = tokenizer.vocab.index(token)
    with _only_the_row(model, row) as weight:
        return finetune(model, [weight], z0, input_ids, steps, lr, generator, batch_size)


def learned_embedding(model: TextToImage, token: str) -> Tensor:
    """The (1, D) float32 embedding row of ``token`` (a copy)."""
    tokenizer = _check_word_tokenizer(model)
    if token not in tokenizer.vocab:
        raise ValueError(f"token {token!r} is not in the vocabulary")
    row = tokenizer.vocab.index(token)
    return model.text_encoder.token_embedding.weight.detach()[row : row + 1].float().cpu().clone()


def save_learned_embedding(
    model: TextToImage, token: str, path: str | os.PathLike, overwrite: bool = False
) -> Path:
    """Write ``{token: (1, D) float32}`` to the safetensors file ``path``.

    Raises:
        ValueError: if token is not in the vocabulary.
        FileExistsError: if path exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not check_bool(overwrite, "overwrite"):
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    tensors = {token: learned_embedding(model, token).contiguous()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, path, metadata={"format": "pt"})
    return path


def load_learned_embedding(model: TextToImage, path: str | os.PathLike) -> str:
    """Add the token saved by :func:`save_learned_embedding` to a model without it.

    Returns:
        The token.
    Raises:
        FileNotFoundError: if path does not exist.
        ValueError: if the file does not hold exactly one (1, D) embedding, or as
            :func:`add_placeholder_token`.
    """
    tensors = load_file(Path(path))
    if len(tensors) != 1:
        raise ValueError(f"{path} must hold one embedding, got {len(tensors)}")
    ((token, vector),) = tensors.items()
    add_placeholder_token(model, token, embedding=vector)
    return token
