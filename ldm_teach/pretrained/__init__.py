"""Small checkpoints shipped with the package (fp16 safetensors + sealed JSON card each).

recipes.py     the recipe tables: what each checkpoint is trained from (names come from here),
               gathered from autoencoder_recipes.py (stage 1) and ldm_recipes.py (LDMs)
cards.py       checkpoint files and cards: paths, sealing, reading, atomic writing
sealing.py     ``ldm-teach seal-cards``: verify and seal cards of earlier versions
registry.py    REGISTRY and the loaders that build models from cards
recipe_run.py  what every recipe run shares (output checks, seeding, card fields); short_run
live.py        live_measure: a shipped model's samples measured now, next to its card
trainers.py    ``ldm-teach train NAME``: feature-net and autoencoder trainers, dispatch
ldm_trainer.py the latent-diffusion trainer
"""

from ldm_teach.pretrained.cards import (
    WEIGHTS_DIR,
    CardEditedError,
    ChecksumError,
    ParentMismatchError,
    UnsealedCardError,
    available,
    load_card,
    load_state_dict,
    save_pretrained,
    sealed,
)
from ldm_teach.pretrained.live import live_measure
from ldm_teach.pretrained.recipe_run import ShortRun, short_run
from ldm_teach.pretrained.registry import (
    REGISTRY,
    load_autoencoder,
    load_feature_net,
    load_latent_diffusion,
)
from ldm_teach.pretrained.sealing import seal_cards

__all__ = [
    "REGISTRY",
    "ShortRun",
    "WEIGHTS_DIR",
    "CardEditedError",
    "ChecksumError",
    "ParentMismatchError",
    "UnsealedCardError",
    "available",
    "live_measure",
    "load_autoencoder",
    "load_card",
    "load_feature_net",
    "load_latent_diffusion",
    "load_state_dict",
    "save_pretrained",
    "seal_cards",
    "sealed",
    "short_run",
]
