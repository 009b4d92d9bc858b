"""A ``transformers`` CLIP tokenizer seen through the course tokenizer's interface, so the
text-to-image pipeline runs a real Stable Diffusion tokenizer (``tokenizer/`` of a diffusers
folder, or :func:`~ldm_teach.text.clip_tokenizer`) exactly as it runs the shapes vocabulary.

Stable Diffusion's pipelines pad every prompt to ``model_max_length`` (77) tokens and cut
longer prompts there; so does :class:`BPETokenizer`, with a warning naming what was cut
(never a silent drop).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch

from ldm_teach.text.tokenizer import TokenBatch


class BPETokenizer:
    """Wrap a ``transformers`` tokenizer (e.g. ``CLIPTokenizer``).

    Args:
        tokenizer: a ``transformers.PreTrainedTokenizerBase`` with an end-of-text token.
        context_length: the padded length L (default: the tokenizer's ``model_max_length``).
    Attributes:
        vocab_size, end_token_id, pad_token_id, context_length: as :class:`WordTokenizer`.
    Raises:
        ValueError: if the tokenizer has no eos token or ``context_length`` is not an int in
            [2, 4096].
    """

    def __init__(self, tokenizer, context_length: int | None = None) -> None:
        if getattr(tokenizer, "eos_token_id", None) is None:
            raise ValueError("tokenizer must be a transformers tokenizer with an eos token")
        L = tokenizer.model_max_length if context_length is None else context_length
        if isinstance(L, bool) or not isinstance(L, int) or not 2 <= L <= 4096:
            raise ValueError(f"context_length must be an int in [2, 4096], got {L!r}")
        self.hf_tokenizer = tokenizer
        self.context_length = L
        self.vocab_size = len(tokenizer)
        self.end_token_id = int(tokenizer.eos_token_id)
        pad = tokenizer.pad_token_id
        self.pad_token_id = self.end_token_id if pad is None else int(pad)

    def __call__(self, texts: str | Sequence[str]) -> TokenBatch:
        """Texts -> (B, L) int64 ids and attention mask, padded and cut at L.

        Raises:
            ValueError: on an empty batch or a non-str entry.
        """
        if isinstance(texts, str):
            texts = [texts]
        if (
            not isinstance(texts, Sequence)
            or not texts
            or not all(isinstance(t, str) for t in texts)
        ):
            raise ValueError(f"texts must be a str or a non-empty list of str, got {texts!r:.100}")
        L = self.context_length
        # one pass of the BPE; cut like transformers' truncation (start, words, end)
        full = self.hf_tokenizer(list(texts), padding=False, truncation=False).input_ids
        input_ids = torch.full((len(full), L), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(full), L), dtype=torch.long)
        for i, (text, ids) in enumerate(zip(texts, full, strict=True)):
            if len(ids) > L:
                cut = self.hf_tokenizer.decode(ids[L - 1 : -1])
                warnings.warn(
                    f"the prompt {text[:60]!r} has {len(ids)} tokens; only {L} are read, "
                    f"this part is cut: {cut!r}",
                    stacklevel=2,
                )
                ids = [*ids[: L - 1], self.end_token_id]
            input_ids[i, : len(ids)] = torch.tensor(ids)
            attention_mask[i, : len(ids)] = 1
        return TokenBatch(input_ids, attention_mask)

    def tokens(self, text: str) -> list[str]:
        """The BPE pieces of ``text`` (start and end tokens included), for per-token plots."""
        ids = self.hf_tokenizer(text, truncation=True, max_length=self.context_length).input_ids
        return self.hf_tokenizer.convert_ids_to_tokens(ids)


__all__ = ["BPETokenizer"]
