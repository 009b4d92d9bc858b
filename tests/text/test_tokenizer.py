"""The course tokenizer keeps CLIP's conventions; CLIP's own BPE tokenizer is built offline
and gives open_clip's ids."""

import pytest
import torch

from ldm_teach.data.shapes import all_attributes, caption_for
from ldm_teach.text import WordTokenizer, clip_tokenizer, shapes_tokenizer


def test_every_caption_encodes_with_start_end_padding_and_mask():
    tok = shapes_tokenizer()
    captions = [caption_for(a) for a in all_attributes()]
    batch = tok(captions)
    assert batch.input_ids.shape == (216, 16) and batch.input_ids.dtype == torch.int64
    assert (batch.input_ids[:, 0] == tok.start_token_id).all()
    lengths = batch.attention_mask.sum(1)
    for row, n, text in zip(batch.input_ids, lengths.tolist(), captions, strict=True):
        assert row[n - 1] == tok.end_token_id  # the end token closes the caption
        assert (row[n:] == tok.pad_token_id).all()  # padding repeats it
        assert tok.decode(row) == text


def test_empty_prompt_is_start_end_and_padding():
    tok = shapes_tokenizer()
    batch = tok("")
    assert batch.input_ids[0, :2].tolist() == [tok.start_token_id, tok.end_token_id]
    assert batch.attention_mask[0].tolist() == [1, 1] + [0] * 14


def test_unknown_words_and_long_texts_are_refused_not_dropped():
    tok = shapes_tokenizer()
    with pytest.raises(ValueError, match="unknown word 'purple'"):
        tok("a purple circle")
    with pytest.raises(ValueError, match="context_length=16"):
        tok(" ".join(["red"] * 15))
    with pytest.raises(ValueError, match="non-empty"):
        tok([])


def test_add_tokens_grows_the_vocabulary_once():
    tok = shapes_tokenizer()
    n = tok.vocab_size
    assert tok.add_tokens(["sks"]) == 1 and tok.add_tokens(["sks"]) == 0
    assert tok.vocab_size == n + 1 and tok("a sks").input_ids[0, 2] == n - 2
    with pytest.raises(ValueError, match="one lower-case word"):
        tok.add_tokens(["Two Words"])


def test_round_trip_through_a_card_dict():
    tok = shapes_tokenizer()
    again = WordTokenizer.from_dict(tok.to_dict())
    assert again.vocab == tok.vocab and again.context_length == tok.context_length
    with pytest.raises(ValueError, match="exactly the keys"):
        WordTokenizer.from_dict({"words": ["a"]})
    with pytest.raises(ValueError, match="repeat"):
        WordTokenizer(["a", "a"])


def test_clip_bpe_tokenizer_gives_open_clip_ids_offline():
    open_clip_tokenizer = pytest.importorskip("open_clip.tokenizer")
    reference = open_clip_tokenizer.SimpleTokenizer()
    tok = clip_tokenizer()
    assert len(tok) == 49408
    for prompt in [
        "a large blue triangle at the bottom right",
        "An astronaut riding a horse on Mars, 4k photo, trending on artstation!!",
        "a photo of a cat's whiskers, café au lait",
    ]:
        ours = tok(prompt, padding="max_length").input_ids
        theirs = reference(prompt)[0].tolist()
        n = theirs.index(49407) + 1
        assert ours[:n] == theirs[:n]
        assert len(ours) == 77 and set(ours[n:]) <= {49407}  # transformers pads with end
