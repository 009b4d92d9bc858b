"""short_run: a short live run of a latent-diffusion recipe with changed settings."""

from __future__ import annotations

import math

import pytest

from ldm_teach.pretrained import ShortRun, short_run
from ldm_teach.pretrained.recipes import LDM_RECIPES

NAME = "digits-cmp-f8"  # the cheapest latent model: 2x4x4 latents


def test_a_short_run_trains_the_recipe_with_the_changes_and_scores_both_weights():
    run = short_run(NAME, 3, warmup_steps=1, ema_decay=0.9, num_test=8)
    assert isinstance(run, ShortRun)
    recipe = LDM_RECIPES[NAME].train
    assert run.config.steps == 3 and run.config.warmup_steps == 1 and run.config.ema_decay == 0.9
    assert (run.config.batch_size, run.config.lr, run.config.seed) == (
        recipe.batch_size,
        recipe.lr,
        recipe.seed,
    )
    assert len(run.losses) == 3 and all(math.isfinite(v) for v in run.losses)
    assert run.wall_s > 0
    assert set(run.test_eps_mse) == {"raw", "ema"}
    # three steps from a fresh UNet: about as good as predicting eps = 0 (1.0)
    assert all(0.3 < v < 3 for v in run.test_eps_mse.values())
    again = short_run(NAME, 3, warmup_steps=1, ema_decay=0.9, num_test=8)
    assert again.losses == run.losses and again.test_eps_mse == run.test_eps_mse  # seeded


def test_without_ema_only_the_raw_weights_are_scored_and_progressive_runs():
    run = short_run(NAME, 2, warmup_steps=0, ema_decay=None, num_test=4, progressive_from=16)
    assert run.test_eps_mse["ema"] is None and math.isfinite(run.test_eps_mse["raw"])
    assert len(run.losses) == 2


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("digits-kl-f4", {}, "name must be a latent-diffusion recipe"),
        (NAME, {"steps": 0}, "steps must be an int >= 1"),
        (NAME, {"num_test": 0}, r"num_test must be an int in \[1, 360\]"),
        (NAME, {"learning_rate": 1e-3}, r"unknown TrainConfig fields \['learning_rate'\]"),
        (NAME, {"batch_size": 0}, "batch_size"),
        (NAME, {"progressive_from": 8}, "progressive_from must be a multiple of 16"),
        (NAME, {"progressive_from": 32}, r"progressive_from must be an int in \[1, 31\]"),
    ],
)
def test_bad_arguments_are_named_before_training(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        short_run(name, **kwargs)
