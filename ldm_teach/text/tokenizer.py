"""A word-level tokenizer with CLIP's conventions, for the course's captions
(Radford et al. 2021, arXiv:2103.00020, Sec. 2.4: "[SOS] and [EOS] tokens, ... a max
sequence length of 76"; Stable Diffusion pads every prompt to 77 tokens).

Stable Diffusion's text encoder reads a caption as a fixed-length row of integer ids:

    "a red circle"  ->  [<|startoftext|>, a, red, circle, <|endoftext|>, pad, pad, ...]
    attention_mask  ->  [1,               1, 1,   1,      1,             0,   0,   ...]

CLIP uses a byte-pair encoding of 49,408 tokens (:func:`ldm_teach.text.clip_tokenizer`
builds that one offline); a model trained on 216 captions needs 19 words, and a table of
49,408 embeddings would be 99% of its parameters. This tokenizer keeps CLIP's conventions
and a small vocabulary:

- the start and end tokens are the last two ids, as in CLIP (49406, 49407 there);
- padding repeats the end token (``transformers.CLIPTokenizer``'s convention; open_clip
  pads with 0), and the attention mask marks the real tokens;
- text is lower-cased and split into words and punctuation marks;
- a word outside the vocabulary raises ValueError naming it (never a silent drop) unless
  it was added with :meth:`WordTokenizer.add_tokens` (textual inversion, Sec. 10.5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ldm_teach.argcheck import check_int
from ldm_teach.data.shapes import caption_vocabulary

START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")  # words, numbers, single punctuation marks


@dataclass(frozen=True)
class TokenBatch:
    """Token ids of a batch of texts, padded to one length.

    Attributes:
        input_ids: (B, L) int64, L = the tokenizer's ``context_length``.
        attention_mask: (B, L) int64, 1 for the start, word and end tokens, 0 for padding.
    """

    input_ids: Tensor
    attention_mask: Tensor

    def to(self, device: torch.device | str) -> TokenBatch:
        return TokenBatch(self.input_ids.to(device), self.attention_mask.to(device))


class WordTokenizer:
    """Words -> ids with CLIP's start, end and padding conventions.

    Args:
        words: the vocabulary, each a lower-case word or punctuation mark, no repeats;
            ids 0 .. len(words) - 1 in this order, then the start and end tokens.
        context_length: L, the length of every encoded row including the start and end
            tokens (CLIP: 77), an int in [3, 1024].
    Raises:
        ValueError: if a word repeats, is empty, is not what the splitter would produce
            (upper case, spaces), or is a special token; or on a bad context_length.
    """

    def __init__(self, words: Sequence[str], context_length: int = 16) -> None:
        self.context_length = check_int(context_length, "context_length", lo=3, hi=1024)
        self._ids: dict[str, int] = {}
        self.add_tokens(list(words), _initial=True)

    # -- vocabulary ------------------------------------------------------------------------
    @property
    def vocab(self) -> list[str]:
        """Every token in id order, the start and end tokens included."""
        return [*self._ids, START_TOKEN, END_TOKEN]

    @property
    def vocab_size(self) -> int:
        return len(self._ids) + 2

    @property
    def start_token_id(self) -> int:
        return len(self._ids)

    @property
    def end_token_id(self) -> int:
        return len(self._ids) + 1

    @property
    def pad_token_id(self) -> int:
        return self.end_token_id

    def add_tokens(self, words: Iterable[str], _initial: bool = False) -> int:
        """Add new words to the vocabulary (textual inversion's placeholder token).

        New words take the ids after the existing words, so the start and end tokens move
        up by one per new word, as they would not in CLIP (whose special tokens would stay
        and new ones go after them): a text encoder must grow its embedding table to
        ``vocab_size`` and move the two special rows (see the 10.5 notebook).

        Returns:
            The number of words added; words already in the vocabulary are not added
            again (as ``transformers``' ``add_tokens``, which returns 0 for them).
        Raises:
            ValueError: on an empty word, a word with upper case, spaces or several
                splitter pieces, a special token, or a repeat in the initial vocabulary.
        """
        added = 0
        for word in words:
            if not isinstance(word, str) or _WORD.findall(word) != [word]:
                raise ValueError(
                    f"each vocabulary word must be one lower-case word or punctuation mark "
                    f"(what the tokenizer's splitter produces), got {word!r}"
                )
            if word in self._ids:
                if _initial:
                    raise ValueError(f"words must not repeat, got {word!r} twice")
                continue
            self._ids[word] = len(self._ids)
            added += 1
        return added

    def split(self, text: str) -> list[str]:
        """Lower-case ``text`` and split it into words and punctuation marks."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}")
        return _WORD.findall(text.lower())

    # -- encoding --------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """The ids of one text, start and end tokens included, without padding.

        Raises:
            ValueError: if a word is not in the vocabulary (naming it and the vocabulary),
                or the text needs more than ``context_length`` tokens.
        """
        ids = [self.start_token_id]
        for word in self.split(text):
            if word not in self._ids:
                raise ValueError(
                    f"unknown word {word!r} in {text!r}: this tokenizer knows {sorted(self._ids)}"
                    f" (add a word with add_tokens)"
                )
            ids.append(self._ids[word])
        ids.append(self.end_token_id)
        if len(ids) > self.context_length:
            raise ValueError(
                f"{text!r} needs {len(ids)} tokens with the start and end tokens, more than "
                f"context_length={self.context_length}; shorten it (nothing is cut silently)"
            )
        return ids

    def __call__(self, texts: str | Sequence[str]) -> TokenBatch:
        """Encode a text or a batch of texts, padded with the end token to context_length.

        Args:
            texts: a str or a non-empty sequence of str (the empty string "" is the
                unconditional prompt of classifier-free guidance: start, end, padding).
        Returns:
            A :class:`TokenBatch` with (B, context_length) int64 tensors.
        Raises:
            ValueError: on an empty batch, a non-str entry, an unknown word or a too long
                text (see :meth:`encode`).
        """
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, Sequence) or len(texts) == 0:
            raise ValueError(f"texts must be a str or a non-empty list of str, got {texts!r}")
        L = self.context_length
        input_ids = torch.full((len(texts), L), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(texts), L), dtype=torch.long)
        for i, text in enumerate(texts):
            ids = self.encode(text)
            input_ids[i, : len(ids)] = torch.tensor(ids)
            attention_mask[i, : len(ids)] = 1
        return TokenBatch(input_ids, attention_mask)

    def decode(self, ids: Sequence[int] | Tensor, skip_special_tokens: bool = True) -> str:
        """Ids back to text, words joined by spaces; padding and (by default) the special
        tokens dropped.

        Raises:
            ValueError: on an id outside [0, vocab_size - 1].
        """
        vocab = self.vocab
        out = []
        for i in ids.tolist() if isinstance(ids, Tensor) else list(ids):
            if not isinstance(i, int) or not 0 <= i < len(vocab):
                raise ValueError(f"ids must be ints in [0, {len(vocab) - 1}], got {i!r}")
            if skip_special_tokens and i >= self.start_token_id:
                continue
            out.append(vocab[i])
        return " ".join(out)

    def to_dict(self) -> dict:
        """The vocabulary and context length, for a model card (JSON)."""
        return {"words": list(self._ids), "context_length": self.context_length}

    @classmethod
    def from_dict(cls, d: dict) -> WordTokenizer:
        if not isinstance(d, dict) or set(d) != {"words", "context_length"}:
            raise ValueError(
                f"a tokenizer dict has exactly the keys 'words' and 'context_length', got {d!r}"
            )
        return cls(d["words"], d["context_length"])

    def __repr__(self) -> str:
        return f"WordTokenizer({self.vocab_size} tokens, context_length={self.context_length})"


def shapes_tokenizer(context_length: int = 16) -> WordTokenizer:
    """The tokenizer of the course's captioned shapes: every word of every caption of
    :mod:`ldm_teach.data.shapes` (20 words), plus "and", "of", "," and "." so that
    longer prompts and negative prompts ("red, blue") can be written."""
    return WordTokenizer([*caption_vocabulary(), "and", "of", ",", "."], context_length)
