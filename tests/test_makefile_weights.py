"""`make weights` retrains every recipe, in an order where each recipe's inputs exist."""

from __future__ import annotations

import re
from pathlib import Path

from ldm_teach.pretrained.recipes import (
    AE_RECIPES,
    FIXED_STAGE_ONE,
    LDM_RECIPES,
    all_recipes,
)
from ldm_teach.pretrained.text_recipes import T2I_RECIPES

ROOT = Path(__file__).resolve().parents[1]


def _weights() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    block = re.search(r"^WEIGHTS := (.*?)(?<!\\)\n", text, re.S | re.M).group(1)
    return block.replace("\\\n", " ").split()


def test_make_weights_lists_every_recipe_once():
    names = _weights()
    assert sorted(names) == sorted(all_recipes())


def test_make_weights_order_respects_dependencies():
    names = _weights()
    pos = {n: i for i, n in enumerate(names)}
    for name, recipe in AE_RECIPES.items():
        if recipe.perceptual:
            assert pos[recipe.perceptual] < pos[name], name
    for name, recipe in LDM_RECIPES.items():
        if recipe.autoencoder not in FIXED_STAGE_ONE:
            assert pos[recipe.autoencoder] < pos[name], name
    for name, recipe in T2I_RECIPES.items():
        for parent in (recipe.autoencoder, "shapes-judge"):
            assert pos[parent] < pos[name], name
        if recipe.text_encoder == "frozen-clip":
            assert pos[recipe.clip] < pos[name], name
