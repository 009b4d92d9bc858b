"""The course's checkpoints by name, and the loaders that build models from them.

:data:`REGISTRY` lists every checkpoint a recipe produces (read from the recipe tables in
:mod:`ldm_teach.pretrained.recipes`); the ``load_*`` functions read a checkpoint's card and
weights (verified by :mod:`ldm_teach.pretrained.cards`) and build the model the card's
config describes, refusing a card whose config does not fit its weights and a latent
diffusion model whose autoencoder is not the one it was trained on.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

from ldm_teach.autoencoders import (
    VQVAE,
    AutoencoderKL,
    AutoencoderKLConfig,
    IdentityAutoencoder,
    PooledPixels,
    VQVAEConfig,
)
from ldm_teach.device import check_device
from ldm_teach.diffusion import ScheduleConfig
from ldm_teach.metrics.features import DigitsFeatureNet
from ldm_teach.models import LatentDiffusion, UNet, UNetConfig
from ldm_teach.pretrained.cards import (
    ParentMismatchError,
    card_path,
    load_card,
    load_state_dict,
    weights_path,
)
from ldm_teach.pretrained.recipes import FIXED_STAGE_ONE, all_recipes

#: name -> one-line description of the checkpoints the course ships (in training order).
REGISTRY: dict[str, str] = {name: recipe.summary for name, recipe in all_recipes().items()}


def fixed_stage_one(name: str, latent_channels: int) -> torch.nn.Module | None:
    """The stage 1 of a name in FIXED_STAGE_ONE (no checkpoint: nothing to load), or None.

    "pixel" is :class:`IdentityAutoencoder` with the UNet's ``latent_channels``;
    "pooled-pixels" is :class:`PooledPixels` of 1-channel digits (2x2 pool, 2x2 fold).
    """
    if name == "pixel":
        return IdentityAutoencoder(latent_channels)
    if name == "pooled-pixels":
        return PooledPixels(1, pool=2, fold=2)
    return None


@contextlib.contextmanager
def _config_fits_weights(name: str, weights_dir):
    """Turn the errors of building a model from a card's config and loading its weights
    (torch's multi-line state_dict RuntimeError, a TypeError from a malformed field) into one
    ValueError naming the card: its config does not describe its weights."""
    try:
        yield
    except (RuntimeError, TypeError, KeyError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        raise ValueError(
            f"card {card_path(name, weights_dir)}: its config does not describe the weights in "
            f"{weights_path(name, weights_dir)} ({first}); the card was edited or belongs to "
            "other weights"
        ) from err


def _card_config(card: dict[str, Any], name: str, weights_dir, *keys: str) -> dict[str, Any]:
    """The card's ``config`` object, checked to hold ``keys``.

    Raises:
        ValueError: naming the card's file, if ``config`` is missing, not an object, or
            lacks one of ``keys``.
    """
    path = card_path(name, weights_dir)
    config = card.get("config")
    if not isinstance(config, dict):
        raise ValueError(
            f"card {path} has no 'config' object (the model's configuration), "
            f"got {config!r}; it was not written by save_pretrained from a "
            "recipe, or was edited"
        )
    missing = [k for k in keys if k not in config]
    if missing:
        raise ValueError(
            f"card {path}: 'config' lacks {', '.join(map(repr, missing))}; the "
            "card was edited or damaged"
        )
    return config


def load_autoencoder(
    name: str = "digits-kl-f4",
    weights_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> AutoencoderKL | VQVAE:
    """A shipped autoencoder (:class:`AutoencoderKL`, or :class:`VQVAE` for a card of kind
    ``autoencoder_vq``), in eval mode, float32, on ``device``.

    Raises:
        FileNotFoundError: no such checkpoint (the message names the command to make it).
        ValueError: the checkpoint is not an autoencoder, its card is damaged (no
            ``config``, a bad ``card_format``) or ``weights_dir`` is empty.
        ChecksumError: the weights file does not match its card.
    """
    device = check_device(device)  # before reading anything
    tensors, card = load_state_dict(name, weights_dir)
    kind = card.get("kind")
    if kind not in ("autoencoder_kl", "autoencoder_vq"):
        raise ValueError(f"{name!r} is a {kind!r}, not an autoencoder_kl or autoencoder_vq")
    config = _card_config(card, name, weights_dir)
    with _config_fits_weights(name, weights_dir):
        if kind == "autoencoder_kl":
            model = AutoencoderKL(AutoencoderKLConfig.from_dict(config))
        else:
            model = VQVAE(VQVAEConfig.from_dict(config))
        model.load_state_dict(tensors)
    return model.eval().to(device)


def load_feature_net(
    name: str = "digits-features",
    weights_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
):
    """The shipped :class:`~ldm_teach.metrics.features.DigitsFeatureNet` (eval mode, float32);
    wrap it in :class:`~ldm_teach.metrics.features.FeatureDistance` for a perceptual loss.

    Raises as :func:`load_autoencoder`; ValueError if the checkpoint is not a feature net.
    """
    device = check_device(device)  # before reading anything
    tensors, card = load_state_dict(name, weights_dir)
    if card.get("kind") != "feature_net":
        raise ValueError(f"{name!r} is a {card.get('kind')!r}, not a feature_net")
    config = _card_config(card, name, weights_dir, "widths", "num_classes")
    with _config_fits_weights(name, weights_dir):
        net = DigitsFeatureNet(tuple(config["widths"]), config["num_classes"])
        net.load_state_dict(tensors)
    return net.eval().to(device)


def check_autoencoder_pin(
    card: dict[str, Any], weights_dir: str | os.PathLike | None = None
) -> None:
    """Check that a latent diffusion card's autoencoder is the one it was trained on.

    The card pins the SHA-256 of its autoencoder's weights (``autoencoder_sha256``); the
    autoencoder's card in ``weights_dir`` records the SHA-256 of the weights there (which
    :func:`load_autoencoder` verifies). Cards of the pixel baseline have no autoencoder.
    (Cards of format 1, written before the pin, are pinned by :func:`seal_cards`.)

    Args:
        card: the latent diffusion model's card (from :func:`load_card`).
        weights_dir: the folder holding both checkpoints (default: the package's).
    Raises:
        ParentMismatchError: if the pinned SHA-256 differs from the autoencoder's, naming
            both files and both hashes; the latent diffusion model must be retrained.
        ValueError: if the card has no pin (``autoencoder_sha256``).
        FileNotFoundError, ValueError: as :func:`load_card` for the autoencoder's card.
    """
    parent = card.get("autoencoder")
    if parent in FIXED_STAGE_ONE:
        return
    ldm_card = card_path(card.get("name", "?"), weights_dir)
    pinned = card.get("autoencoder_sha256")
    if not isinstance(pinned, str):
        raise ValueError(
            f"card {ldm_card} does not pin the SHA-256 of its autoencoder {parent!r} "
            f"('autoencoder_sha256', got {pinned!r}); the card was edited or damaged: train "
            f"{card.get('name')!r} again"
        )
    actual = load_card(parent, weights_dir)["sha256"]
    if actual != pinned:
        raise ParentMismatchError(
            f"{ldm_card} was trained on the autoencoder {parent!r} with SHA-256 {pinned}, but "
            f"{weights_path(parent, weights_dir)} (card {card_path(parent, weights_dir)}) has "
            f"SHA-256 {actual}: the autoencoder was retrained or replaced since; its latents "
            f"mean something else to this model. Retrain the latent diffusion model on this "
            f"autoencoder (for a recipe: `ldm-teach train {card.get('name')} --overwrite`), "
            "or restore the autoencoder it was trained on"
        )


def load_latent_diffusion(
    name: str = "digits-ldm",
    weights_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
):
    """A shipped LatentDiffusion model (its autoencoder loaded by the name on its card).

    The card's ``config.prediction_type`` (default "epsilon") becomes the model's
    ``prediction_type``, so training and sampling read the UNet as it was trained.

    Raises:
        ValueError: if the card is not a latent_diffusion, records an unknown
            prediction_type, or is damaged (no ``config`` or one without ``unet``,
            ``schedule`` or ``scale_factor``; a bad ``card_format``).
    """
    device = check_device(device)  # before reading anything
    tensors, card = load_state_dict(name, weights_dir)
    if card.get("kind") != "latent_diffusion":
        raise ValueError(f"{name!r} is a {card.get('kind')!r}, not a latent_diffusion")
    config = _card_config(card, name, weights_dir, "unet", "schedule", "scale_factor")
    check_autoencoder_pin(card, weights_dir)  # the autoencoder it was trained on, or refuse
    autoencoder = fixed_stage_one(card["autoencoder"], config["unet"]["in_channels"])
    if autoencoder is None:
        autoencoder = load_autoencoder(card["autoencoder"], weights_dir)
    with _config_fits_weights(name, weights_dir):
        unet = UNet(UNetConfig.from_dict(config["unet"]))
        unet.load_state_dict(tensors)
        schedule = ScheduleConfig(**config["schedule"])
    ldm = LatentDiffusion(
        autoencoder,
        unet,
        schedule,
        scale_factor=config["scale_factor"],
        cond_drop_prob=config.get("cond_drop_prob", 0.0),
        # what the UNet predicts; cards before it was recorded are all epsilon models
        prediction_type=config.get("prediction_type", "epsilon"),
    )
    return ldm.eval().to(device)


#: The card helpers above, for the loaders of the 10.4 checkpoints (text_registry.py).
card_config = _card_config
config_fits_weights = _config_fits_weights
