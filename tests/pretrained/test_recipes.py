"""The training recipes behind the shipped checkpoints, run for a few steps into tmp dirs."""

from __future__ import annotations

import pytest
import torch

from ldm_teach.autoencoders import VQVAE, AutoencoderKL
from ldm_teach.diffusion import ScheduleConfig
from ldm_teach.pretrained import load_autoencoder, load_card, load_feature_net
from ldm_teach.pretrained.recipes import (
    AE_RECIPES,
    KL_SWEEP,
    RD_CHANNELS,
    RD_FACTORS,
    kl_sweep_name,
    rd_name,
)
from ldm_teach.pretrained.trainers import train_autoencoder_recipe, train_feature_recipe


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


# --- latent-diffusion recipes: schedules adapted to the latents, curves, convergence ----


def _stage_one_in(tmp_path, name="digits-kl-f4"):
    import shutil

    from ldm_teach.pretrained.cards import WEIGHTS_DIR, card_path, weights_path

    shutil.copy(weights_path(name, WEIGHTS_DIR), tmp_path)
    shutil.copy(card_path(name, WEIGHTS_DIR), tmp_path)


def _tiny(monkeypatch, base: str, **changes) -> str:
    import dataclasses

    from ldm_teach.pretrained import recipes

    name = f"tiny-{base}"
    recipe = dataclasses.replace(
        recipes.LDM_RECIPES[base], convergence_steps=2, eval_steps=2, **changes
    )
    monkeypatch.setitem(recipes.LDM_RECIPES, name, recipe)
    return name


def test_ldm_recipe_family_differs_only_in_what_it_compares():
    from ldm_teach.pretrained.recipes import LDM_RECIPES

    base = LDM_RECIPES["digits-cmp-f4"]
    for name in (
        "digits-sched-linear",
        "digits-sched-cosine",
        "digits-sched-raw",
        "digits-sched-heuristic",
        "digits-sched-shift",
        "digits-sched-resolution",
        "digits-xattn-fine",
        "digits-xattn-coarse",
        "digits-cmp-f8",
        "digits-cmp-f16",
        "digits-cmp-pixel",
    ):
        r = LDM_RECIPES[name]
        assert r.train == base.train, name
        assert r.unet.base_channels == base.unet.base_channels, name
        assert r.eval_every == base.eval_every and r.eval_steps == base.eval_steps, name


@pytest.mark.parametrize(
    "base, check",
    [
        ("digits-sched-shift", "shift"),
        ("digits-sched-heuristic", "heuristic"),
    ],
)
def test_schedule_from_latents_is_built_from_the_latent_std(tmp_path, monkeypatch, base, check):
    from ldm_teach.pretrained import load_latent_diffusion
    from ldm_teach.pretrained.ldm_trainer import train_ldm_recipe

    _stage_one_in(tmp_path)
    name = _tiny(monkeypatch, base)
    card = train_ldm_recipe(name, tmp_path, steps=2, progress=False)
    sigma = card["latent_std"]
    assert 1.5 < sigma < 4.0  # the unscaled digits-kl-f4 latents (about 2.25)
    assert card["config"]["scale_factor"] == 1.0
    sched = card["config"]["schedule"]
    if check == "shift":
        assert sched["snr_scale"] == pytest.approx(1 / sigma**2, rel=1e-4)
        assert sched["beta_start"] == 0.00085
    else:
        assert sched["beta_start"] == pytest.approx(0.00085 * sigma, rel=1e-4)
        assert sched["beta_end"] == pytest.approx(0.012 * sigma, rel=1e-4)
        assert sched.get("snr_scale", 1.0) == 1.0  # the heuristic does not shift the SNR
    # the saved card rebuilds the same schedule
    ldm = load_latent_diffusion(name, tmp_path)
    assert ldm.schedule.config.snr_scale == sched.get("snr_scale", 1.0)
    assert float(ldm.scale_factor) == 1.0


def test_convergence_segments_equal_one_uninterrupted_run(tmp_path, monkeypatch):
    from ldm_teach.pretrained import load_state_dict
    from ldm_teach.pretrained.ldm_trainer import train_ldm_recipe

    _stage_one_in(tmp_path)
    tracked = _tiny(monkeypatch, "digits-cmp-f4", eval_every=2)
    card = train_ldm_recipe(tracked, tmp_path, steps=4, progress=False)
    conv = card["convergence"]
    assert conv["step"] == [2, 4]
    assert len(conv["classifier_accuracy"]) == len(conv["frechet_distance"]) == 2
    assert all(0.0 <= a <= 1.0 for a in conv["classifier_accuracy"])
    assert card["curves"]["every"] == 10 and len(card["curves"]["loss"]) == 1

    once = tmp_path / "once"
    once.mkdir()
    _stage_one_in(once)
    import dataclasses

    from ldm_teach.pretrained import recipes

    plain = "tiny-plain"  # the same recipe, trained in one go
    monkeypatch.setitem(
        recipes.LDM_RECIPES, plain, dataclasses.replace(recipes.LDM_RECIPES[tracked], eval_every=0)
    )
    card_once = train_ldm_recipe(plain, once, steps=4, progress=False)
    assert "convergence" not in card_once
    a, _ = load_state_dict(tracked, tmp_path)
    b, _ = load_state_dict(plain, once)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"schedule_from_latents": "magic"}, "schedule_from_latents"),
        ({"eval_every": -1}, "eval_every"),
        ({"eval_every": 1.5}, "eval_every"),
        ({"eval_every": True}, "eval_every"),
        ({"convergence_steps": 0}, "convergence_steps"),
        ({"eval_steps": None}, "eval_steps"),
        ({"schedule_from_latents": "std_shift", "scale_factor": None}, "scale_factor=1.0"),
        (
            {
                "schedule_from_latents": "chapter_heuristic",
                "scale_factor": 1.0,
                "schedule": ScheduleConfig(num_train_timesteps=1000, beta_schedule="cosine"),
            },
            "heuristic",
        ),
    ],
)
def test_ldm_recipe_rejects_bad_fields(changes, match):
    import dataclasses

    from ldm_teach.pretrained.recipes import LDM_RECIPES

    with pytest.raises(ValueError, match=match):
        dataclasses.replace(LDM_RECIPES["digits-cmp-f4"], **changes)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"per_class": 1}, "per_class"),
        ({"per_class": 10_000}, "per_class"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_measure_ldm_samples_rejects_bad_arguments(kwargs, match):
    from ldm_teach.metrics import measure_ldm_samples
    from ldm_teach.pretrained import load_latent_diffusion

    with pytest.raises(ValueError, match=match):
        measure_ldm_samples(
            load_latent_diffusion("digits-cmp-f8"),
            2,
            2.0,
            feature_net=load_feature_net("digits-features"),
            **kwargs,
        )


def test_output_folder_is_checked_before_training(tmp_path):
    import time

    from ldm_teach.pretrained.ldm_trainer import train_ldm_recipe

    afile = tmp_path / "afile"
    afile.write_text("keep")
    t0 = time.perf_counter()
    with pytest.raises(NotADirectoryError, match="is a file"):
        train_autoencoder_recipe("digits-kl-f4", afile, steps=500, progress=False)
    with pytest.raises(NotADirectoryError, match="is a file"):
        train_feature_recipe("digits-features", afile / "sub", steps=500, progress=False)
    with pytest.raises(ValueError, match="empty string"):
        train_ldm_recipe("digits-ldm", "", steps=500, progress=False)
    (tmp_path / "digits-kl-f4.safetensors").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        train_autoencoder_recipe(
            "digits-kl-f4", tmp_path, steps=500, overwrite=True, progress=False
        )
    assert time.perf_counter() - t0 < 30  # refused before training
    assert afile.read_text() == "keep"


def test_ldm_card_pins_the_autoencoder_it_was_trained_on(tmp_path, monkeypatch):
    import json

    from ldm_teach.pretrained import ParentMismatchError, save_pretrained
    from ldm_teach.pretrained.cards import card_path
    from ldm_teach.pretrained.ldm_trainer import train_ldm_recipe
    from ldm_teach.pretrained.registry import check_autoencoder_pin

    _stage_one_in(tmp_path)
    ae_sha = load_card("digits-kl-f4", tmp_path)["sha256"]
    name = _tiny(monkeypatch, "digits-cmp-f4")
    card = train_ldm_recipe(name, tmp_path, steps=2, progress=False)
    assert card["autoencoder_sha256"] == ae_sha
    saved = json.loads(card_path(name, tmp_path).read_text())
    assert saved["autoencoder_sha256"] == ae_sha and saved["card_format"] == 3
    check_autoencoder_pin(saved, tmp_path)
    # the autoencoder is retrained into the same folder: the LDM no longer matches it
    ae = load_autoencoder("digits-kl-f4", tmp_path)
    with torch.no_grad():
        ae.post_quant_conv.bias.add_(0.5)
    ae_card = {
        k: v
        for k, v in load_card("digits-kl-f4", tmp_path).items()
        if k not in ("sha256", "name", "dtype", "card_sha256")
    }
    save_pretrained(ae, "digits-kl-f4", ae_card, tmp_path, overwrite=True)
    with pytest.raises(ParentMismatchError, match="Retrain the latent diffusion model"):
        check_autoencoder_pin(saved, tmp_path)


@pytest.mark.parametrize("name", sorted(AE_RECIPES))
def test_autoencoder_recipe_is_what_its_shipped_card_records(name):
    """The tables are the one source of each checkpoint's config: the shipped card was
    trained from exactly this recipe."""
    card = load_card(name)
    recipe = AE_RECIPES[name]
    assert type(recipe.config).from_dict(card["config"]) == recipe.config
    assert card["train_config"]["steps"] == recipe.train.steps
    assert card["train_config"]["seed"] == recipe.train.seed
    # the earliest cards record kl_weight at the top level and no "loss" object
    loss = card.get("loss") or {"kl_weight": card["kl_weight"], "perceptual": None}
    assert loss["perceptual"] == recipe.perceptual
    if card["kind"] == "autoencoder_kl":
        assert loss["kl_weight"] == recipe.kl_weight


def test_ldm_recipes_are_what_their_shipped_cards_record():
    import math

    from ldm_teach.diffusion import ScheduleConfig
    from ldm_teach.models import UNetConfig
    from ldm_teach.pretrained.ldm_trainer import latent_schedule
    from ldm_teach.pretrained.recipes import LDM_RECIPES

    for name, recipe in LDM_RECIPES.items():
        card = load_card(name)
        assert UNetConfig.from_dict(card["config"]["unet"]) == recipe.unet, name
        assert card["autoencoder"] == recipe.autoencoder, name
        assert card["train_config"]["steps"] == recipe.train.steps, name
        shipped = ScheduleConfig(**card["config"]["schedule"])
        # adapted schedules used the unrounded latent std; the card stores it to 5 digits
        expected = latent_schedule(
            recipe, card["latent_std"] if recipe.schedule_from_latents else 1.0
        )
        for field in ("num_train_timesteps", "beta_schedule", "rescale_betas_zero_snr"):
            assert getattr(shipped, field) == getattr(expected, field), (name, field)
        for field in ("beta_start", "beta_end", "snr_scale"):
            assert math.isclose(getattr(shipped, field), getattr(expected, field), rel_tol=1e-4), (
                name,
                field,
            )
        assert card["metrics"]["num_samples"] == 100 and card["metrics"]["seed"] == 1234
