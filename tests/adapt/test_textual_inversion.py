"""Textual inversion on the shipped shapes-t2i model (ldm_teach.adapt.textual_inversion)."""

import pytest
import torch

from ldm_teach.adapt import (
    add_placeholder_token,
    encode_examples,
    fixed_seed_loss,
    learned_embedding,
    load_learned_embedding,
    save_learned_embedding,
    train_textual_inversion,
)
from ldm_teach.pretrained.text_registry import load_text_to_image


def test_growing_the_table_keeps_every_caption_s_encoding(model):
    caption = "a large red circle in the centre"
    before = model.encode_text(model.tokenize(caption))
    old = model.text_encoder.token_embedding.weight.detach().clone()  # (25, 64)
    n = add_placeholder_token(model, "sks", initializer_token="triangle")
    assert n == 23 and model.tokenizer.vocab_size == 26
    assert model.text_encoder.config.vocab_size == 26
    assert model.text_encoder.config.eos_token_id == model.tokenizer.end_token_id == 25
    new = model.text_encoder.token_embedding.weight.detach()
    tri = model.tokenizer.vocab.index("triangle")
    assert torch.equal(new[:n], old[:n]) and torch.equal(new[n + 1 :], old[n:])
    assert torch.equal(new[n], old[tri])
    assert torch.equal(model.encode_text(model.tokenize(caption)), before)  # same caption, same c
    # the placeholder reads as its initializer until trained
    assert torch.equal(
        model.encode_text(model.tokenize("a large red sks in the centre")),
        model.encode_text(model.tokenize("a large red triangle in the centre")),
    )


def test_training_changes_only_the_new_row(model, stars):
    images, captions = stars
    captions = [c.replace("star", "sks") for c in captions]
    n = add_placeholder_token(model, "sks", initializer_token="triangle")
    table = model.text_encoder.token_embedding.weight.detach().clone()
    params = {k: v.clone() for k, v in model.state_dict().items() if "token_embedding" not in k}
    z0, ids = encode_examples(model, images, captions)
    start = fixed_seed_loss(model, z0, ids, draws=8)
    g = torch.Generator().manual_seed(0)
    losses = train_textual_inversion(model, "sks", images, captions, steps=30, lr=2e-2, generator=g)
    end = fixed_seed_loss(model, z0, ids, draws=8)
    print(f"textual inversion on 8 stars: fixed-seed loss {start:.4f} -> {end:.4f}")
    assert len(losses) == 30 and end < start
    after = model.text_encoder.token_embedding.weight.detach()
    rows = (after != table).any(dim=1).nonzero().flatten().tolist()
    assert rows == [n]  # only the new row moved...
    assert torch.equal(after[:n], table[:n]) and torch.equal(after[n + 1 :], table[n + 1 :])
    for k, v in model.state_dict().items():  # ...and nothing else in the model
        if k in params:
            assert torch.equal(v, params[k]), k
    assert not model.train_text_encoder  # restored
    assert not any(p.requires_grad for p in model.text_encoder.parameters())


def test_save_load_round_trip(model, stars, tmp_path):
    images, captions = stars
    captions = [c.replace("star", "sks") for c in captions]
    add_placeholder_token(model, "sks", initializer_token="triangle")
    g = torch.Generator().manual_seed(0)
    train_textual_inversion(model, "sks", images, captions, steps=3, lr=2e-2, generator=g)
    path = save_learned_embedding(model, "sks", tmp_path / "learned_embeds.safetensors")
    print(f"learned embedding file {path.stat().st_size} bytes")
    assert path.stat().st_size < 1024  # 64 float32 and a header
    with pytest.raises(FileExistsError):
        save_learned_embedding(model, "sks", path)

    fresh = load_text_to_image("shapes-t2i")
    assert load_learned_embedding(fresh, path) == "sks"
    assert torch.equal(learned_embedding(fresh, "sks"), learned_embedding(model, "sks"))
    assert torch.equal(
        fresh.text_encoder.token_embedding.weight, model.text_encoder.token_embedding.weight
    )
    prompt = "a small blue sks at the top"
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a = fresh.sample(prompt, num_inference_steps=3, generator=g1)
    b = model.sample(prompt, num_inference_steps=3, generator=g2)
    assert torch.equal(a, b)


def test_bad_arguments(model, stars):
    with pytest.raises(ValueError, match="already"):
        add_placeholder_token(model, "circle", initializer_token="triangle")
    with pytest.raises(ValueError, match="unknown word"):
        add_placeholder_token(model, "sks", initializer_token="hexagon")
    with pytest.raises(ValueError, match="exactly one"):
        add_placeholder_token(model, "sks")
    with pytest.raises(ValueError, match="embedding must"):
        add_placeholder_token(model, "sks", embedding=torch.zeros(3))
    with pytest.raises(ValueError, match="not in the vocabulary"):
        train_textual_inversion(model, "sks", *stars, steps=1)
    add_placeholder_token(model, "sks", initializer_token="triangle")
    with pytest.raises(ValueError, match="no caption"):
        train_textual_inversion(model, "sks", stars[0], ["a red circle"] * 8, steps=1)
