"""The 10.4 recipes (caption judge, mini-CLIP, text-to-image) run for a few steps into a
tmp folder, write cards, and load back."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ldm_teach.data.shapes import held_out_attributes
from ldm_teach.pretrained import load_card
from ldm_teach.pretrained import text_recipes as tr
from ldm_teach.pretrained.text_registry import (
    load_caption_judge,
    load_mini_clip,
    load_text_to_image,
)
from ldm_teach.pretrained.trainers import train_autoencoder_recipe, train_recipe


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A weights folder with a 2-step shapes autoencoder, judge and mini-CLIP."""
    out = tmp_path_factory.mktemp("weights")
    train_autoencoder_recipe("shapes-kl-f4", out, steps=2, progress=False)
    train_recipe("shapes-judge", out, steps=2, progress=False)
    train_recipe("shapes-clip", out, steps=2, progress=False)
    return out


def test_judge_and_clip_cards_record_their_measurements(folder):
    judge = load_card("shapes-judge", folder)
    assert judge["kind"] == "caption_judge" and judge["steps"] == 2
    assert set(judge["metrics_test"]) >= {"shape", "colour", "size", "position", "caption"}
    clip = load_card("shapes-clip", folder)
    assert clip["data"]["held_out_combinations"] == len(held_out_attributes()) == 24
    assert 0 <= clip["metrics_test"]["retrieval_top1"] <= 1
    assert 0 < clip["temperature"] < 1
    assert load_caption_judge("shapes-judge", folder).heads["position"].out_features == 9
    assert load_mini_clip("shapes-clip", folder).config == tr.CLIP_RECIPES["shapes-clip"].config


@pytest.mark.parametrize("name", ["shapes-t2i-frozen", "shapes-t2i-embeddings"])
def test_text_to_image_recipe_pins_its_parents_and_loads_back(folder, name, monkeypatch):
    recipe = tr.T2I_RECIPES[name]
    small = replace(recipe.unet, base_channels=16, num_res_blocks=1)
    monkeypatch.setitem(tr.T2I_RECIPES, name, replace(recipe, unet=small, eval_steps=1))
    monkeypatch.setattr("ldm_teach.pretrained.text_trainers.EVAL_PER_CAPTION", 1)
    card = train_recipe(name, folder, steps=2, progress=False)
    assert card["autoencoder_sha256"] == load_card("shapes-kl-f4", folder)["sha256"]
    assert ("clip_sha256" in card) == (recipe.text_encoder == "frozen-clip")
    assert card["metrics"]["held_out"]["num_images"] == 24
    assert card["metrics"]["seen"]["num_images"] == 192
    model = load_text_to_image(name, folder)
    assert model.prediction_type == "epsilon" and model.text_encoder.config == card_text(card)
    x = model.sample("a small red circle at the top left", num_inference_steps=2)
    assert x.shape == (1, 3, 32, 32) and torch.isfinite(x).all()


def card_text(card):
    from ldm_teach.text import TextEncoderConfig

    return TextEncoderConfig.from_dict(card["config"]["text"])


def test_recipe_tables_refuse_inconsistent_text_encoders():
    recipe = tr.T2I_RECIPES["shapes-t2i"]
    with pytest.raises(ValueError, match="text_encoder must be one of"):
        replace(recipe, text_encoder="bert")
    with pytest.raises(ValueError, match="text_config is given"):
        replace(recipe, text_encoder="joint")


def test_judge_augmentation_keeps_the_background_black_and_the_layout():
    from ldm_teach.data.shapes import ShapesDataset
    from ldm_teach.pretrained.text_trainers import augment

    x = ShapesDataset(16, seed=0).images
    recipe = tr.JUDGE_RECIPES["shapes-judge"]
    plain = replace(recipe, noise_std=0.0, blur_prob=0.0, gain_range=(1.0, 1.0))
    assert torch.allclose(augment(x, plain, torch.Generator().manual_seed(0)), x, atol=1e-6)
    dim = replace(plain, gain_range=(0.5, 0.5))
    out = augment(x, dim, torch.Generator().manual_seed(0))
    assert torch.allclose(out[x == -1], torch.full_like(out[x == -1], -1.0))
    assert torch.allclose(out + 1, (x + 1) * 0.5, atol=1e-6)
