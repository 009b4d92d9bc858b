"""The recipe tables behind the shipped checkpoints: one entry per ``ldm-teach train NAME``.

Each recipe fixes the data, the model config, the training config and the seed of one
checkpoint; :mod:`ldm_teach.pretrained.trainers` runs it, measures the model on held-out
data and writes fp16 weights plus a card. The registry's list of names
(:data:`~ldm_teach.pretrained.registry.REGISTRY`) is read from these tables, so a new
checkpoint is one new entry in one of them (and one line in the Makefile's ``WEIGHTS``).

Tables, in training order: :data:`FEATURE_RECIPES` (the course feature network) and
:data:`AE_RECIPES` (KL and VQ autoencoders, the 10.2 sweeps), both in
:mod:`~ldm_teach.pretrained.autoencoder_recipes`; :data:`LDM_RECIPES` (the reference LDM
and the 10.3 comparison family) in :mod:`~ldm_teach.pretrained.ldm_recipes`. This module
re-exports their names and joins the tables, with those of 10.4
(:mod:`~ldm_teach.pretrained.text_recipes`), in :func:`all_recipes`.
"""

from __future__ import annotations

from ldm_teach.pretrained import text_recipes
from ldm_teach.pretrained.autoencoder_recipes import (  # noqa: F401  (recipes' API)
    AE_RECIPES,
    FEATURE_RECIPES,
    KL_SWEEP,
    RD_CHANNELS,
    RD_FACTORS,
    AutoencoderRecipe,
    FeatureNetRecipe,
    kl_sweep_name,
    rd_name,
)
from ldm_teach.pretrained.ldm_recipes import (  # noqa: F401  (recipes' API)
    COSINE_SCHEDULE,
    DDPM_SCHEDULE,
    FIXED_STAGE_ONE,
    LDM_RECIPES,
    SCHEDULE_ADAPTATIONS,
    SD_SCHEDULE,
    LDMRecipe,
)


def all_recipes() -> dict:
    """Every recipe by name, in an order in which each one's inputs are trained first
    (the 10.4 tables of :mod:`ldm_teach.pretrained.text_recipes` last)."""
    return {
        **FEATURE_RECIPES,
        **AE_RECIPES,
        **LDM_RECIPES,
        **text_recipes.JUDGE_RECIPES,
        **text_recipes.CLIP_RECIPES,
        **text_recipes.T2I_RECIPES,
    }
