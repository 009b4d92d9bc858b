"""Sealing cards: verifying cards of earlier versions (or deliberately edited ones) and
giving them the seal (``card_sha256``) that :func:`~ldm_teach.pretrained.cards.load_card`
requires. ``ldm-teach seal-cards`` runs :func:`seal_cards`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ldm_teach.argcheck import check_bool
from ldm_teach.pretrained.cards import (
    CARD_FORMAT,  # noqa: F401  (named in the docstrings)
    CardEditedError,
    ChecksumError,
    ParentMismatchError,
    UnsealedCardError,
    _weights_dir,
    available,
    card_path,
    load_card,
    sealed,
    weights_path,
)
from ldm_teach.pretrained.recipes import FIXED_STAGE_ONE
from ldm_teach.training.checkpoint import atomic_write_text, sha256_file


def _verified_card(name: str, folder: Path) -> dict[str, Any]:
    """A card as stored (sealed or not), after checking its weights match its ``sha256``.

    Raises:
        FileNotFoundError: the card or the weights are missing.
        ValueError: the card is not a JSON object of that ``name`` with a ``sha256``.
        ChecksumError: the weights do not match.
    """
    path, wpath = card_path(name, folder), weights_path(name, folder)
    for needed in (path, wpath):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed} is missing; cannot verify {name!r}")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"card {path} is not valid JSON ({err}); the file is damaged") from err
    if (
        not isinstance(card, dict)
        or card.get("name") != name
        or not isinstance(card.get("sha256"), str)
    ):
        raise ValueError(
            f"card {path} is not the card of {name!r} with the 'sha256' of its "
            "weights; it was damaged or renamed"
        )
    digest = sha256_file(wpath)
    if digest != card["sha256"]:
        raise ChecksumError(
            f"{wpath} has SHA-256 {digest}, but its card records "
            f"{card['sha256']}; not sealing {name!r}"
        )
    return card


def _refuse_forged_old_card(card: dict[str, Any], path: Path) -> None:
    """Raise CardEditedError for an "old" card no earlier version could have written: one
    carrying ``card_sha256`` (only format 3 writes it), or a format-2 latent diffusion card
    without its autoencoder pin (format 2 always wrote it). Lowering ``card_format`` must
    not be a way round the seal or the pin."""
    fmt = card.get("card_format", 1)
    forged = "card_sha256" in card or (
        fmt >= 2
        and card.get("kind") == "latent_diffusion"
        and card.get("autoencoder") not in FIXED_STAGE_ONE
        and "autoencoder_sha256" not in card
    )
    if forged:
        raise CardEditedError(
            f"card {path} says card_format {fmt} but holds what that format never wrote "
            "(a 'card_sha256', or a latent diffusion card without 'autoencoder_sha256'): it "
            "was edited. Restore it or train the model again; if the edit is deliberate, "
            "pass --accept-edits"
        )


#: How far the latent std of an unpinned LDM's autoencoder may be from the one on the LDM's
#: card before sealing refuses to pin it (fp16 storage moves it by about 1e-3).
LATENT_STD_RTOL = 0.02


def _check_parent_latents(card: dict[str, Any], parent: str, folder: Path) -> None:
    """Before pinning an unpinned latent diffusion card to the autoencoder now in the
    folder, check that this autoencoder gives the latents the model was trained on: the
    std σ of its latents of the training digits must match the card's (``latent_std``, or
    1 / ``scale_factor`` for cards that scaled their latents). A retrained autoencoder has
    other latents; pinning it would make a wrong pair load silently.

    Raises:
        ParentMismatchError: σ differs by more than :data:`LATENT_STD_RTOL`, or the card
            records nothing to compare with (pass ``accept_edits`` to pin anyway).
    """
    from ldm_teach.autoencoders import AutoencoderKL, AutoencoderKLConfig
    from ldm_teach.data import DigitsDataset
    from ldm_teach.models import compute_scale_factor
    from ldm_teach.training.checkpoint import load_tensors

    config = card.get("config") or {}
    expected = card.get("latent_std")
    if (
        expected is None
        and isinstance(config.get("scale_factor"), (int, float))
        and (config["scale_factor"] not in (0, 1.0))
    ):
        expected = 1.0 / config["scale_factor"]
    dataset = (card.get("data") or {}).get("dataset")
    name = card.get("name")
    if expected is None or dataset != "digits":
        raise ParentMismatchError(
            f"cannot check that {parent!r} in {folder} is the autoencoder {name!r} was "
            "trained on (its card records no latent std of digits); pin it anyway with "
            "--accept-edits only if you know it is, or train the model again"
        )
    # the parent's card may be unsealed too (sealed in this same run): build it from its
    # verified card, not through load_card
    parent_card = _verified_card(parent, folder)
    if parent_card.get("kind") != "autoencoder_kl":
        raise ParentMismatchError(
            f"{name!r} names {parent!r}, a {parent_card.get('kind')!r}, "
            "not a KL autoencoder; it cannot be pinned"
        )
    autoencoder = AutoencoderKL(AutoencoderKLConfig.from_dict(parent_card["config"]))
    tensors, _ = load_tensors(weights_path(parent, folder))
    autoencoder.load_state_dict({k: v.float() for k, v in tensors.items()})
    images = DigitsDataset(split="train", size=32).images
    with torch.no_grad():
        measured = 1.0 / compute_scale_factor(autoencoder, images)
    if abs(measured / expected - 1.0) > LATENT_STD_RTOL:
        raise ParentMismatchError(
            f"{parent!r} in {folder} gives latents of std {measured:.4f}, but {name!r} was "
            f"trained on latents of std {expected:.4f}: the autoencoder was retrained or "
            f"replaced since, so it is not pinned. Restore the autoencoder {name!r} was "
            f"trained on, or train {name!r} again (`ldm-teach train {name} --overwrite`)"
        )


def _refuse_edited_known_card(card: dict[str, Any], name: str, path: Path) -> None:
    """CardEditedError for an unsealed card of a checkpoint the package knows, whose content
    is not what the package has for it: a sealed card in the package for the same weights
    (same ``sha256``) must be equal to it, apart from the format fields; a recipe's card
    must hold the recipe's config. Removing the seal must not be a way to edit a card."""
    from ldm_teach.pretrained import cards
    from ldm_teach.pretrained.recipes import all_recipes

    ignore = {"card_format", "card_sha256", "autoencoder_sha256"}
    shipped_path = cards.card_path(name, cards.WEIGHTS_DIR)
    if shipped_path.resolve() != path.resolve() and shipped_path.is_file():
        try:
            shipped = cards.load_card(name, cards.WEIGHTS_DIR)
        except (ValueError, OSError):
            shipped = None
        if shipped is not None and shipped.get("sha256") == card.get("sha256"):
            changed = sorted(
                k
                for k in set(card) | set(shipped) - ignore
                if k not in ignore and card.get(k) != shipped.get(k)
            )
            if changed:
                raise CardEditedError(
                    f"card {path} has the weights of the package's {name!r} but differs from "
                    f"its card in {', '.join(changed)}: it was edited. Restore it (copy "
                    f"{shipped_path}); if the edit is deliberate, pass --accept-edits"
                )
            return
    recipe = all_recipes().get(name)
    config = card.get("config")
    if recipe is None or not isinstance(config, dict):
        return
    if card.get("kind") == "latent_diffusion" and hasattr(recipe, "unet"):
        from ldm_teach.diffusion import ScheduleConfig
        from ldm_teach.models import UNetConfig

        try:
            same = UNetConfig.from_dict(config.get("unet", {})) == recipe.unet
            sched = ScheduleConfig(**config.get("schedule", {}))
        except (TypeError, ValueError):
            same, sched = False, None
        fixed = ("num_train_timesteps", "beta_schedule", "rescale_betas_zero_snr")
        same = (
            same
            and sched is not None
            and all(getattr(sched, f) == getattr(recipe.schedule, f) for f in fixed)
        )
        if recipe.schedule_from_latents is None and sched is not None:
            same = same and sched == recipe.schedule
    elif hasattr(recipe, "config") and card.get("kind", "").startswith("autoencoder"):
        try:
            same = type(recipe.config).from_dict(config) == recipe.config
        except (TypeError, ValueError):
            same = False
    else:
        return
    if not same:
        raise CardEditedError(
            f"card {path} is a card of the recipe {name!r} but its config is not the "
            f"recipe's: it was edited. Train {name!r} again (or restore the card); if the "
            "edit is deliberate, pass --accept-edits"
        )


def seal_cards(
    names: list[str] | None = None,
    weights_dir: str | os.PathLike | None = None,
    *,
    accept_edits: bool = False,
) -> list[tuple[str, str]]:
    """Verify cards written by earlier versions (or deliberately edited) and seal them.

    For each card: the weights must match the card's ``sha256``; a latent diffusion card
    without ``autoencoder_sha256`` is pinned to the autoencoder's weights now in
    ``weights_dir`` (verified against its card); then the card is rewritten atomically with
    ``card_format`` :data:`CARD_FORMAT` and ``card_sha256``. Already sealed cards are left
    as they are. A sealed card whose content changed is resealed only with
    ``accept_edits``: that is the user saying the edit is deliberate.

    Args:
        names: the checkpoints to seal (default: all in ``weights_dir``).
        weights_dir: the folder (default: the package's weights folder).
        accept_edits: reseal sealed cards whose content changed.
    Returns:
        ``(name, what was done)`` for each card: "sealed", "resealed", "already sealed".
    Raises:
        FileNotFoundError: ``weights_dir`` is not a folder; a card, its weights or a latent
            diffusion model's autoencoder is missing.
        ChecksumError: weights that do not match their card (nothing is sealed).
        CardEditedError: an edited sealed card without ``accept_edits``.
        ParentMismatchError: an unpinned latent diffusion card whose autoencoder now in
            the folder gives other latents than the card records (without ``accept_edits``).
        ValueError: a damaged card (not JSON, another ``name``, no ``sha256``, a format
            newer than this version's).
    """
    accept_edits = check_bool(accept_edits, "accept_edits")
    folder = _weights_dir(weights_dir)
    if not folder.is_dir():  # a typo must not look like "nothing to seal"
        raise FileNotFoundError(f"weights_dir {folder} is not a folder")
    if isinstance(names, str):  # one name, not its letters
        names = [names]
    names = available(folder) if names is None else list(names)
    plan: list[tuple[str, dict[str, Any], str]] = []
    for name in names:
        try:
            load_card(name, folder)
            plan.append((name, {}, "already sealed"))
            continue
        except CardEditedError:
            if not accept_edits:
                raise
            what = "resealed"
        except UnsealedCardError:
            what = "sealed"
        card = _verified_card(name, folder)
        if what == "sealed" and not accept_edits:
            _refuse_forged_old_card(card, card_path(name, folder))
            _refuse_edited_known_card(card, name, card_path(name, folder))
        parent = card.get("autoencoder")
        if (
            card.get("kind") == "latent_diffusion"
            and isinstance(parent, str)
            and parent not in FIXED_STAGE_ONE
            and "autoencoder_sha256" not in card
        ):
            # the autoencoder's weights now in the folder, verified against its own card,
            # and checked to give the latents this model was trained on
            parent_sha = _verified_card(parent, folder)["sha256"]
            if not accept_edits:
                _check_parent_latents(card, parent, folder)
            card["autoencoder_sha256"] = parent_sha
        plan.append((name, sealed(card), what))
    for name, card, _ in plan:
        if card:
            atomic_write_text(
                card_path(name, folder), json.dumps(card, indent=2, sort_keys=True) + "\n"
            )
    return [(name, what) for name, _, what in plan]
