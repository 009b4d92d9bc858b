"""Text for Stable Diffusion's conditioning (Sec. 10.4.2): a tokenizer with CLIP's
conventions, CLIP's real BPE tokenizer built offline, a CLIP-style text encoder that loads
``transformers.CLIPTextModel`` weights, and a mini-CLIP trained contrastively on the
course's captioned shapes.
"""

from ldm_teach.text.bpe_tokenizer import BPETokenizer
from ldm_teach.text.clip_bpe import clip_tokenizer, clip_vocabulary
from ldm_teach.text.encoder import (
    TextEncoder,
    TextEncoderConfig,
    TextEncoderOutput,
    state_dict_from_transformers,
)
from ldm_teach.text.tokenizer import TokenBatch, WordTokenizer, shapes_tokenizer

__all__ = [
    "BPETokenizer",
    "TextEncoder",
    "TextEncoderConfig",
    "TextEncoderOutput",
    "TokenBatch",
    "WordTokenizer",
    "clip_tokenizer",
    "clip_vocabulary",
    "shapes_tokenizer",
    "state_dict_from_transformers",
]
