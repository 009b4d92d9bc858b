"""The course text encoder against transformers' CLIPTextModel (the minGPT "loads GPT-2"
test, for CLIP): same random weights, same hidden states to 1e-5."""

import pytest
import torch
from transformers import CLIPTextModel

from ldm_teach.text import TextEncoder, TextEncoderConfig, shapes_tokenizer
from ldm_teach.text.encoder import state_dict_from_transformers


def _pair(activation="quick_gelu", seed=0):
    tok = shapes_tokenizer()
    cfg = TextEncoderConfig(
        vocab_size=tok.vocab_size,
        context_length=tok.context_length,
        width=32,
        num_layers=2,
        num_heads=4,
        activation=activation,
        eos_token_id=tok.end_token_id,
    )
    torch.manual_seed(seed)
    ref = CLIPTextModel(cfg.to_transformers()).eval()
    ours = TextEncoder(cfg).eval()
    missing, unexpected = ours.load_state_dict(state_dict_from_transformers(ref.state_dict()))
    assert not missing and not unexpected
    return tok, ref, ours


@pytest.mark.parametrize("activation", ["quick_gelu", "gelu"])
def test_hidden_states_and_pooled_output_match_clip_text_model(activation):
    tok, ref, ours = _pair(activation)
    batch = tok(["a small red circle at the top left", "a large blue triangle", ""])
    with torch.no_grad():
        want = ref(input_ids=batch.input_ids)
        got = ours(batch.input_ids)
    assert (got.last_hidden_state - want.last_hidden_state).abs().max() < 1e-5
    assert (got.pooled - want.pooler_output).abs().max() < 1e-5


def test_attention_mask_matches_clip_text_model():
    tok, ref, ours = _pair()
    batch = tok(["a red circle", "a large green square on the right"])
    with torch.no_grad():
        want = ref(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        got = ours(batch.input_ids, batch.attention_mask)
    real = batch.attention_mask.bool()  # padded positions differ by convention only
    assert (got.last_hidden_state - want.last_hidden_state)[real].abs().max() < 1e-5
    assert (got.pooled - want.pooler_output).abs().max() < 1e-5


def test_causal_mask_tokens_before_the_end_ignore_what_follows():
    tok, _, ours = _pair()
    a, b = tok(["a red circle on the left", "a red circle on the right"]).input_ids
    with torch.no_grad():
        h = ours(torch.stack([a, b])).last_hidden_state
    first_diff = int((a != b).nonzero()[0])
    assert torch.allclose(h[0, :first_diff], h[1, :first_diff])
    assert not torch.allclose(h[0, first_diff], h[1, first_diff])


@pytest.mark.parametrize(
    "ids, message",
    [
        (torch.zeros(2, 3), "int64"),
        (torch.zeros(3, dtype=torch.long), r"shape \(B, L\)"),
        (torch.full((1, 17), 24), "context_length=16"),
        (torch.tensor([[23, 99, 24]]), r"in \[0, 24\]"),
        (torch.tensor([[23, 0, 1]]), "end token 24"),
    ],
)
def test_bad_input_ids_are_refused(ids, message):
    _, _, ours = _pair()
    with pytest.raises(ValueError, match=message):
        ours(ids)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"width": 30, "num_heads": 4}, "must divide width"),
        ({"activation": "relu"}, "activation"),
        ({"eos_token_id": 99}, "eos_token_id"),
        ({"num_layers": -1}, "num_layers"),
    ],
)
def test_bad_configs_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        TextEncoderConfig(**changes)


def test_unknown_state_dict_keys_are_refused():
    with pytest.raises(ValueError, match="not a CLIPTextModel key"):
        state_dict_from_transformers({"vision_model.embeddings.patch_embedding.weight": None})
