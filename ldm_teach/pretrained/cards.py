"""Checkpoint files and their cards: where they live, how they are sealed, read and written.

Each checkpoint is two files in a weights folder (by default ``ldm_teach/pretrained/weights/``):

- ``NAME.safetensors``: the weights in float16 (halves the size; the course loads them
  back to float32), and
- ``NAME.json``: a card with the model kind and config, the data it was trained on, the
  steps, wall time and exact ``ldm-teach train ...`` command that produced it, the
  metrics measured on held-out data, and the SHA-256 of the weights file, verified on
  every load so a corrupted or swapped file is never used silently. The card itself is
  sealed by the SHA-256 of its content (``card_sha256``), so an edited card is refused.

Building models from cards is :mod:`ldm_teach.pretrained.registry`'s job; sealing cards of
earlier versions is :mod:`ldm_teach.pretrained.sealing`'s.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ldm_teach.argcheck import check_bool
from ldm_teach.pretrained.recipes import FIXED_STAGE_ONE, all_recipes
from ldm_teach.training.checkpoint import (
    atomic_targets,
    backup_path,
    check_output_dir,
    load_tensors,
    sha256_file,
    write_tensors,
)

WEIGHTS_DIR = Path(__file__).parent / "weights"

#: ``card_format`` written on every card by :func:`save_pretrained`. Format 3 cards are
#: sealed: ``card_sha256`` is the SHA-256 of the rest of the card (:func:`card_seal`), so an
#: edited ``config`` is refused on load instead of building another model; latent diffusion
#: cards pin their autoencoder's SHA-256 (``autoencoder_sha256``, format 2 and later). Cards
#: of formats 1 and 2 (written by earlier versions) are refused on load until
#: ``ldm-teach seal-cards`` has verified and sealed them.
CARD_FORMAT = 3


class ChecksumError(RuntimeError):
    """The weights file does not match the SHA-256 recorded in its card."""


class ParentMismatchError(RuntimeError):
    """A latent diffusion card's pinned autoencoder SHA-256 is not the autoencoder's."""


class CardEditedError(ValueError):
    """A card's content differs from what :func:`save_pretrained` sealed (``card_sha256``)."""


class UnsealedCardError(ValueError):
    """A card written by an earlier version (format 1 or 2): not sealed, so not trusted."""


def card_seal(card: dict[str, Any]) -> str:
    """The SHA-256 (64 hex digits) of a card's canonical JSON without ``card_sha256``.

    Canonical means ``json.dumps(..., sort_keys=True, separators=(",", ":"),
    ensure_ascii=True)``, so the seal does not depend on the file's indentation or key order.

    Raises:
        TypeError: if ``card`` is not a dict or holds values JSON cannot encode.
    """
    if not isinstance(card, dict):
        raise TypeError(f"card must be a dict, got {type(card).__name__}")
    body = {k: v for k, v in card.items() if k != "card_sha256"}
    text = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def sealed(card: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``card`` with ``card_format`` :data:`CARD_FORMAT` and its ``card_sha256``.

    For tools (and tests) that write a card by hand; :func:`save_pretrained` seals its cards.
    Raises as :func:`card_seal`.
    """
    full = {**card, "card_format": CARD_FORMAT}
    full["card_sha256"] = card_seal(full)
    return full


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(
            f"name must be a checkpoint name such as 'digits-kl-f4' (no folders; "
            f"use weights_dir for another folder), got {name!r}"
        )
    return name


def _weights_dir(weights_dir: str | os.PathLike | None) -> Path:
    """``weights_dir`` as a Path; None means the package's weights folder.

    Raises:
        ValueError: for an empty name ("" would otherwise mean the package's folder).
    """
    if weights_dir is None:
        return WEIGHTS_DIR
    if not str(os.fspath(weights_dir)).strip():
        raise ValueError(
            f"weights_dir must name a folder, got {weights_dir!r} (leave it out, "
            "or pass None, for the package's weights folder)"
        )
    return Path(weights_dir)


def card_path(name: str, weights_dir: str | os.PathLike | None = None) -> Path:
    """``weights_dir/NAME.json``. Raises ValueError for a bad name or an empty weights_dir."""
    return _weights_dir(weights_dir) / f"{_check_name(name)}.json"


def weights_path(name: str, weights_dir: str | os.PathLike | None = None) -> Path:
    """``weights_dir/NAME.safetensors``. Raises as :func:`card_path`."""
    return _weights_dir(weights_dir) / f"{_check_name(name)}.safetensors"


def available(weights_dir: str | os.PathLike | None = None) -> list[str]:
    """Names whose weights and card are both present in ``weights_dir``.

    Raises:
        ValueError: if ``weights_dir`` is empty.
    """
    folder = _weights_dir(weights_dir)
    return sorted(
        p.stem for p in folder.glob("*.json") if (folder / f"{p.stem}.safetensors").is_file()
    )


def load_card(name: str, weights_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Read a checkpoint's JSON card.

    Raises:
        FileNotFoundError: naming the missing file and the command that produces it.
        ValueError: naming the file, if it is not a JSON object, records another ``name``
            (the files were renamed), lacks the ``sha256`` of its weights, or has a
            ``card_format`` that is not a positive integer or is newer than this version's;
            or if ``weights_dir`` is empty.
        UnsealedCardError: (a ValueError) a card of format 1 or 2, written by an earlier
            version: the message gives the ``ldm-teach seal-cards`` command.
        CardEditedError: (a ValueError) the card's content is not what was sealed
            (``card_sha256``): it was edited since it was saved.
    """
    path = card_path(name, weights_dir)
    if not path.is_file():
        known = ", ".join(sorted(all_recipes())) or "none"
        raise FileNotFoundError(
            f"no pretrained checkpoint {name!r} at {path} (known names: {known}); "
            f"produce it with `ldm-teach train {name}`"
        )
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"card {path} is not valid JSON ({err}); the file is damaged") from err
    if not isinstance(card, dict):
        raise ValueError(f"card {path} must hold a JSON object, got {type(card).__name__}")
    if card.get("name") != name:
        raise ValueError(
            f"card {path} is the card of {card.get('name')!r}, not of {name!r}: checkpoint "
            f"files were renamed or swapped; give them back their names ({card.get('name')}"
            f".json, {card.get('name')}.safetensors) or train {name!r} again"
        )
    if not isinstance(card.get("sha256"), str):
        raise ValueError(
            f"card {path} has no 'sha256' (the SHA-256 of {name}.safetensors), so its weights "
            "cannot be verified; it was not written by save_pretrained or was edited"
        )
    fmt = card.get("card_format", 1)
    if type(fmt) is not int or fmt < 1:
        raise ValueError(
            f"card {path}: 'card_format' must be a positive integer (this "
            f"version writes {CARD_FORMAT}), got {fmt!r}; the card was edited"
        )
    if fmt < CARD_FORMAT:
        raise UnsealedCardError(
            f"card {path} has card_format {fmt}, written by an earlier ldm_teach: it is not "
            f"sealed, so an edit to it could not be detected. Verify and seal it with "
            f"`ldm-teach seal-cards {name} --weights-dir {path.parent}` (or train {name!r} "
            "again)"
        )
    if fmt > CARD_FORMAT:
        raise ValueError(
            f"card {path} has card_format {fmt}, newer than this version of "
            f"ldm_teach reads ({CARD_FORMAT}); upgrade ldm_teach"
        )
    recorded = card.get("card_sha256")
    try:
        actual = card_seal(card)
    except (TypeError, ValueError) as err:  # nan/inf are not JSON; a card never holds them
        raise ValueError(
            f"card {path} holds values JSON does not allow ({err}); the card was edited or damaged"
        ) from err
    if recorded != actual:
        raise CardEditedError(
            f"card {path} was edited since it was saved (its content has SHA-256 {actual}, "
            f"its 'card_sha256' says {recorded!r}): its config may no longer describe the "
            f"weights. Restore the card, train {name!r} again, or, if the edit is deliberate, "
            f"accept it with `ldm-teach seal-cards {name} --weights-dir {path.parent} "
            "--accept-edits`"
        )
    return card


def save_pretrained(
    model: nn.Module,
    name: str,
    card: dict[str, Any],
    weights_dir: str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``model``'s weights in float16 and its card, atomically.

    Args:
        model: the module to save (its ``state_dict``).
        name: the checkpoint's name (file stem).
        card: JSON-able fields to record (kind, config, data, steps, command, metrics...);
            ``sha256``, ``dtype`` and ``name`` are filled in here.
        weights_dir: target folder (default: the package's weights folder).
        overwrite: replace an existing checkpoint of the same name.
    Returns:
        The path of the weights file.
    The weights and the card are one transaction: both are written to temporary files,
    then renamed into place, the card last; until the card is in place the previous
    weights are kept (``.NAME.safetensors.prev``), so an error leaves the previous
    checkpoint as it was, and a hard crash in between is explained by
    :func:`load_state_dict`. The card gets ``card_format`` (:data:`CARD_FORMAT`); a
    latent diffusion card without ``autoencoder_sha256`` gets the SHA-256 recorded on its
    autoencoder's card in ``weights_dir`` (recipes pin it when they load the autoencoder).

    Raises:
        TypeError: if ``model`` is not a module or ``card`` not a dict.
        ValueError: if the card holds a value JSON cannot store (NaN, a tensor, ...),
            ``weights_dir`` is empty, or a floating-point tensor is non-finite
            or has values beyond float16's range (+-65504), naming the tensor (saved as
            float16 it would become inf).
        NotADirectoryError, PermissionError: if ``weights_dir`` (or a parent) is a file or
            not writable (checked before anything is written).
        FileExistsError: if the checkpoint exists and ``overwrite`` is False.
        FileNotFoundError: a latent diffusion card without ``autoencoder_sha256`` whose
            autoencoder is not in ``weights_dir``.
        OSError: if the files cannot be written (the previous checkpoint is kept).
    """
    overwrite = check_bool(overwrite, "overwrite")  # "False" must not replace a checkpoint
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module (its state_dict is saved), got {type(model).__name__}"
        )
    if not isinstance(card, dict):
        raise TypeError(f"card must be a dict of JSON fields, got {type(card).__name__}")
    try:  # before anything is written: a card that cannot be sealed fails here, not later
        json.dumps(card, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"card of {name!r} must hold JSON values only (str, finite numbers, "
            f"bool, None, lists, dicts): {err}"
        ) from None
    wpath, cpath = weights_path(name, weights_dir), card_path(name, weights_dir)
    check_output_dir(wpath.parent, what="weights_dir")
    if not overwrite and (wpath.exists() or cpath.exists()):
        raise FileExistsError(
            f"{wpath} already exists; pass overwrite=True (CLI: --overwrite) to replace it"
        )
    full = dict(card)
    parent = full.get("autoencoder")
    if (
        full.get("kind") == "latent_diffusion"
        and isinstance(parent, str)
        and parent not in FIXED_STAGE_ONE
        and "autoencoder_sha256" not in full
    ):
        full["autoencoder_sha256"] = load_card(parent, weights_dir)["sha256"]
    tensors = {}
    f16_max = torch.finfo(torch.float16).max
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            if value.numel():
                if not bool(torch.isfinite(value).all()):
                    raise ValueError(
                        f"save_pretrained({name!r}): tensor {key!r} holds "
                        "non-finite values (nan or inf); refusing to save it"
                    )
                peak = float(value.detach().abs().max())
                if peak > f16_max:
                    raise ValueError(
                        f"save_pretrained({name!r}): tensor {key!r} has a value of magnitude "
                        f"{peak:g}, beyond float16's range (+-{f16_max:g}); saved as float16 "
                        "it would become inf"
                    )
            value = value.half()
        tensors[key] = value
    with atomic_targets(wpath, cpath) as (wtmp, ctmp):
        write_tensors(tensors, wtmp, {"name": name})
        full.update({"name": name, "dtype": "float16", "sha256": sha256_file(wtmp)})
        full = sealed(full)
        Path(ctmp).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return wpath


def load_state_dict(
    name: str, weights_dir: str | os.PathLike | None = None, verify: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load a checkpoint's tensors (as float32) and card, verifying the SHA-256.

    Raises:
        FileNotFoundError: if the card or the weights are missing.
        ValueError: as :func:`load_card` (a renamed, damaged or incomplete card).
        ChecksumError: if the weights' SHA-256 differs from the card's; when a save was
            interrupted between the weights and the card, the message says so and where
            the previous weights are.
    """
    card = load_card(name, weights_dir)
    wpath = weights_path(name, weights_dir)
    if not wpath.is_file():
        raise FileNotFoundError(f"card {name!r} found but weights file {wpath} is missing")
    if verify:
        digest = sha256_file(wpath)
        if digest != card["sha256"]:
            previous = backup_path(wpath)
            if previous.is_file() and sha256_file(previous) == card["sha256"]:
                raise ChecksumError(
                    f"saving {name!r} was interrupted after its weights {wpath} and before "
                    f"its card {card_path(name, weights_dir)}: the card still describes the "
                    f"previous weights, kept in {previous}; restore the previous checkpoint "
                    f"with `mv {previous} {wpath}`, or save (train) {name!r} again"
                )
            raise ChecksumError(
                f"{wpath} has SHA-256 {digest}, but its card records {card['sha256']}; "
                f"the file is corrupted or was replaced"
            )
    tensors, _ = load_tensors(wpath)
    tensors = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
    bad = [
        k
        for k, v in tensors.items()
        if v.is_floating_point() and v.numel() and not bool(torch.isfinite(v).all())
    ]
    if bad:  # save_pretrained never writes them: a hand-made or damaged file
        raise ValueError(
            f"{wpath} holds non-finite values (NaN or inf) in {', '.join(bad[:5])}"
            f"{' ...' if len(bad) > 5 else ''}; the model would compute NaN"
        )
    return tensors, card
