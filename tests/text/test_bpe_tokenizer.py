"""BPETokenizer gives transformers' own padded and truncated ids, and names what it cuts."""

import pytest
import torch

from ldm_teach.text import BPETokenizer, clip_tokenizer

PROMPTS = [
    "a photograph of an astronaut riding a horse",
    "",
    " ".join(["astronaut"] * 100),  # 102 tokens: cut at 77
    "An astronaut riding a horse on Mars, 4k",
]


def test_ids_and_mask_equal_transformers_padding_and_truncation():
    hf = clip_tokenizer()
    with pytest.warns(UserWarning, match="only 77 are read"):
        ours = BPETokenizer(hf)(PROMPTS)
    ref = hf(PROMPTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    assert torch.equal(ours.input_ids, ref.input_ids)
    assert torch.equal(ours.attention_mask, ref.attention_mask.long())
    assert ours.input_ids[2, -1] == 49407  # the end token survives the cut


@pytest.mark.parametrize("bad", [[], [1, 2], None])
def test_bad_texts_are_refused(bad):
    with pytest.raises(ValueError, match="texts"):
        BPETokenizer(clip_tokenizer())(bad)


def test_context_length_is_checked():
    with pytest.raises(ValueError, match="context_length"):
        BPETokenizer(clip_tokenizer(), context_length=1)
