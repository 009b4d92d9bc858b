"""Small checkpoints shipped with the package (fp16 safetensors + JSON card each)."""

from ldm_teach.pretrained.registry import (
    REGISTRY,
    WEIGHTS_DIR,
    CardEditedError,
    ChecksumError,
    ParentMismatchError,
    UnsealedCardError,
    available,
    load_autoencoder,
    load_card,
    load_feature_net,
    load_latent_diffusion,
    load_state_dict,
    save_pretrained,
    seal_cards,
    sealed,
)

__all__ = [
    "REGISTRY",
    "WEIGHTS_DIR",
    "CardEditedError",
    "ChecksumError",
    "ParentMismatchError",
    "UnsealedCardError",
    "available",
    "load_autoencoder",
    "load_card",
    "load_feature_net",
    "load_latent_diffusion",
    "load_state_dict",
    "save_pretrained",
    "seal_cards",
    "sealed",
]
