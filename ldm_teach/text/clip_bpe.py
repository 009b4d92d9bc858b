"""CLIP's real tokenizer, built offline: the byte-pair encoding of Radford et al. 2021
(arXiv:2103.00020, Sec. 2.4: "a lower-cased byte pair encoding (BPE) representation of the
text with a 49,152 vocab size"; Sennrich et al. 2016, arXiv:1508.07909), as
``transformers.CLIPTokenizer``, from the merges file that the ``open_clip_torch`` wheel
ships (``open_clip/bpe_simple_vocab_16e6.txt.gz``), so nothing is downloaded.

The vocabulary is laid out as CLIP's: the 256 byte symbols, the same with the end-of-word
mark ``</w>``, then one token per merge (48,894 merges), then ``<|startoftext|>`` (49406)
and ``<|endoftext|>`` (49407): 49,408 ids. The ids equal open_clip's ``SimpleTokenizer``
(tested); the difference is padding, with the end token here (transformers, Stable
Diffusion's pipelines) and with 0 in open_clip.

Only the data file is read (``importlib.resources``); open_clip itself is not imported.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources

#: Merges used by CLIP: lines 1 .. 49152 - 256 - 2 of the file (line 0 is a header).
NUM_MERGES = 49152 - 256 - 2
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"


def bytes_to_unicode() -> dict[int, str]:
    """The reversible map from the 256 byte values to printable unicode characters that
    byte-level BPE works on (GPT-2's table, Radford et al. 2019): printable Latin-1 bytes
    map to themselves and come first; the other bytes follow in byte order, mapped to code
    points from 256 up. The order of the dict is the order of CLIP's first 256 ids."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += [*range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    others = [b for b in range(256) if b not in table]
    table.update({b: chr(256 + i) for i, b in enumerate(others)})
    return table


@lru_cache(maxsize=1)
def clip_vocabulary() -> tuple[dict[str, int], list[str]]:
    """(vocab: token -> id for all 49,408 tokens, merges: the 48,894 "a b" merge rules).

    Raises:
        FileNotFoundError: if the open_clip_torch package (which ships the file) is not
            installed, with the pip command.
    """
    try:
        source = resources.files("open_clip") / "bpe_simple_vocab_16e6.txt.gz"
        raw = source.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as err:
        raise FileNotFoundError(
            "CLIP's BPE merges ship with open_clip_torch: pip install open_clip_torch"
        ) from err
    lines = gzip.decompress(raw).decode("utf-8").split("\n")[1 : NUM_MERGES + 1]
    merges = [" ".join(line.split()) for line in lines]
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + [m.replace(" ", "") for m in merges]
    tokens += [START_TOKEN, END_TOKEN]
    return {t: i for i, t in enumerate(tokens)}, merges


def clip_tokenizer(model_max_length: int = 77):
    """``transformers.CLIPTokenizer`` with CLIP's 49,408-token vocabulary, built offline.

    Args:
        model_max_length: the padded length (77 in CLIP and Stable Diffusion).
    Returns:
        A ``transformers.CLIPTokenizer``; ``tok(prompt, padding="max_length")`` gives
        Stable Diffusion's input ids (start 49406, end 49407, padded with 49407).
    Raises:
        FileNotFoundError: as :func:`clip_vocabulary`.
    """
    from transformers import CLIPTokenizer

    vocab, merges = clip_vocabulary()
    pairs = [tuple(m.split(" ")) for m in merges]
    return CLIPTokenizer(vocab=dict(vocab), merges=pairs, model_max_length=model_max_length)
