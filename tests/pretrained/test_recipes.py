"""The training recipes behind the shipped checkpoints, run for a few steps into tmp dirs."""

from __future__ import annotations

import pytest
import torch

from ldm_teach.autoencoders import VQVAE, AutoencoderKL
from ldm_teach.pretrained import load_autoencoder, load_card, load_feature_net
from ldm_teach.pretrained.recipes import (
    AE_RECIPES,
    KL_SWEEP,
    RD_CHANNELS,
    RD_FACTORS,
    kl_sweep_name,
    rd_name,
    train_autoencoder_recipe,
    train_feature_recipe,
)


def test_sweep_recipes_differ_only_in_what_they_sweep():
    base = AE_RECIPES[rd_name(4, 4)]
    for f in RD_FACTORS:
        for c in RD_CHANNELS:
            r = AE_RECIPES[rd_name(f, c)]
            assert r.config.downsample_factor == f and r.config.latent_channels == c
            assert r.train == base.train and r.config.base_channels == base.config.base_channels
    weights = [AE_RECIPES[kl_sweep_name(w)].kl_weight for w in KL_SWEEP]
    assert weights == list(KL_SWEEP)
    assert len({AE_RECIPES[kl_sweep_name(w)].config for w in KL_SWEEP}) == 1


def test_perceptual_recipe_needs_the_feature_net_first(tmp_path):
    with pytest.raises(FileNotFoundError, match="ldm-teach train digits-features"):
        train_autoencoder_recipe("digits-kl-f8-perceptual", tmp_path, steps=2, progress=False)


def test_feature_then_perceptual_autoencoder(tmp_path):
    card = train_feature_recipe("digits-features", tmp_path, steps=3, progress=False)
    assert card["kind"] == "feature_net" and 0 <= card["metrics_test"]["accuracy"] <= 1
    assert load_feature_net("digits-features", tmp_path).widths == (16, 32, 64, 64)
    card = train_autoencoder_recipe("digits-kl-f8-perceptual", tmp_path, steps=3, progress=False)
    assert card["loss"]["perceptual"] == "digits-features"
    assert len(card["curves"]["perceptual"]) == 1 and len(card["curves"]["loss"]) == 1
    ae = load_autoencoder("digits-kl-f8-perceptual", tmp_path)
    assert isinstance(ae, AutoencoderKL) and ae.downsample_factor == 8
    with pytest.raises(FileExistsError, match="--overwrite"):
        train_feature_recipe("digits-features", tmp_path, steps=3, progress=False)


def test_vq_recipe_records_codebook_usage(tmp_path):
    card = train_autoencoder_recipe("digits-vq-f4", tmp_path, steps=3, progress=False)
    assert card["kind"] == "autoencoder_vq"
    assert 0 < card["codebook_train"]["usage"] <= 1
    assert 1 <= card["codebook_train"]["perplexity"] <= 256
    assert "perplexity" in card["curves"]
    vq = load_autoencoder("digits-vq-f4", tmp_path)
    assert isinstance(vq, VQVAE)
    assert float(vq.quantizer.usage_counts.sum()) == 0  # saved with cleared counts
    assert load_card("digits-vq-f4", tmp_path)["loss"]["commitment_cost"] == 0.25
    x = torch.zeros(2, 1, 32, 32)
    assert vq.encode_to_indices(x).shape == (2, 8, 8)
