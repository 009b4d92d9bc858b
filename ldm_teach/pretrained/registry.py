"""Registry of the small checkpoints shipped inside the package.

Each entry is two files in ``ldm_teach/pretrained/weights/``:

- ``NAME.safetensors``: the weights in float16 (halves the size; the course loads them
  back to float32), and
- ``NAME.json``: a card with the model kind and config, the data it was trained on, the
  steps, wall time and exact ``ldm-teach train ...`` command that produced it, the
  metrics measured on held-out data, and the SHA-256 of the weights file, verified on
  every load so a corrupted or swapped file is never used silently.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ldm_teach.autoencoders import VQVAE, AutoencoderKL, AutoencoderKLConfig, VQVAEConfig
from ldm_teach.device import check_device
from ldm_teach.training.checkpoint import (
    atomic_targets,
    backup_path,
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

#: name -> one-line description of the checkpoints the course ships.
REGISTRY: dict[str, str] = {
    "digits-kl-f4": "KL autoencoder, 1x32x32 digits -> 4x8x8 latents (f=4)",
    "photos-kl-f4": "KL autoencoder, 3x32x32 photo patches -> 4x8x8 latents (f=4)",
    "digits-ldm": "class-conditional latent diffusion UNet on digits-kl-f4 latents",
    "digits-features": "DigitsFeatureNet, the course's perceptual feature network (not LPIPS)",
    "digits-vq-f4": "VQ autoencoder, 1x32x32 digits -> 8x8 codes of 256 (f=4)",
    "digits-kl-f8": "KL autoencoder, 1x32x32 digits -> 2x4x4 latents (f=8), L1 only",
    "digits-kl-f8-perceptual": "as digits-kl-f8, trained with L1 + FeatureDistance",
    "digits-kl-f16": "KL autoencoder, 1x32x32 digits -> 8x2x2 latents (f=16)",
    **{
        f"photos-rd-f{f}-c{c}": f"rate-distortion sweep, photo patches, f={f}, c={c} (base 16)"
        for f in (2, 4, 8, 16)
        for c in (4, 8)
    },
    **{
        f"digits-klw-{w:g}": f"KL-weight sweep, digits, f=4 (base 16), kl_weight={w:g}"
        for w in (0.0, 1e-6, 1e-5, 1e-4, 1e-3)
    },
    # Sec. 10.3: one UNet design (base 16) and budget, differing in one thing each
    "digits-cmp-f4": "comparison LDM on digits-kl-f4 latents (4x8x8)",
    "digits-cmp-f8": "comparison LDM on digits-kl-f8 latents (2x4x4)",
    "digits-cmp-f16": "comparison LDM on digits-kl-f16 latents (8x2x2)",
    "digits-cmp-pixel": "comparison diffusion model on the 1x32x32 pixels",
    "digits-xattn-fine": "comparison LDM, label by cross-attention at the 8x8 level only",
    "digits-xattn-coarse": "comparison LDM, label by cross-attention at the 4x4 level + middle",
    "digits-sched-linear": "comparison LDM on digits-kl-f4 latents, DDPM linear schedule",
    "digits-sched-cosine": "comparison LDM on digits-kl-f4 latents, cosine schedule",
    "digits-sched-raw": "comparison LDM on unscaled digits-kl-f4 latents (no scale_factor)",
    "digits-sched-heuristic": "unscaled latents, betas times the latent std (chapter)",
    "digits-sched-shift": "unscaled latents, log-SNR shifted by log(1/std^2)",
    "digits-sched-resolution": "comparison LDM, SD schedule with SNR x64 (8x8 vs 64x64 latents)",
}


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
    import hashlib

    if not isinstance(card, dict):
        raise TypeError(f"card must be a dict, got {type(card).__name__}")
    body = {k: v for k, v in card.items() if k != "card_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)
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
        raise ValueError(f"name must be a checkpoint name such as 'digits-kl-f4' (no folders; "
                         f"use weights_dir for another folder), got {name!r}")
    return name


def _weights_dir(weights_dir: str | os.PathLike | None) -> Path:
    """``weights_dir`` as a Path; None means the package's weights folder.

    Raises:
        ValueError: for an empty name ("" would otherwise mean the package's folder).
    """
    if weights_dir is None:
        return WEIGHTS_DIR
    if not str(os.fspath(weights_dir)).strip():
        raise ValueError(f"weights_dir must name a folder, got {weights_dir!r} (leave it out, "
                         "or pass None, for the package's weights folder)")
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
        known = ", ".join(sorted(REGISTRY)) or "none"
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
        raise ValueError(f"card {path}: 'card_format' must be a positive integer (this "
                         f"version writes {CARD_FORMAT}), got {fmt!r}; the card was edited")
    if fmt < CARD_FORMAT:
        raise UnsealedCardError(
            f"card {path} has card_format {fmt}, written by an earlier ldm_teach: it is not "
            f"sealed, so an edit to it could not be detected. Verify and seal it with "
            f"`ldm-teach seal-cards {name} --weights-dir {path.parent}` (or train {name!r} "
            "again)"
        )
    if fmt > CARD_FORMAT:
        raise ValueError(f"card {path} has card_format {fmt}, newer than this version of "
                         f"ldm_teach reads ({CARD_FORMAT}); upgrade ldm_teach")
    recorded = card.get("card_sha256")
    try:
        actual = card_seal(card)
    except (TypeError, ValueError) as err:  # nan/inf are not JSON; a card never holds them
        raise ValueError(f"card {path} holds values JSON does not allow ({err}); the card "
                         "was edited or damaged") from err
    if recorded != actual:
        raise CardEditedError(
            f"card {path} was edited since it was saved (its content has SHA-256 {actual}, "
            f"its 'card_sha256' says {recorded!r}): its config may no longer describe the "
            f"weights. Restore the card, train {name!r} again, or, if the edit is deliberate, "
            f"accept it with `ldm-teach seal-cards {name} --weights-dir {path.parent} "
            "--accept-edits`"
        )
    return card


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
        raise ValueError(f"card {path} has no 'config' object (the model's configuration), "
                         f"got {config!r}; it was not written by save_pretrained from a "
                         "recipe, or was edited")
    missing = [k for k in keys if k not in config]
    if missing:
        raise ValueError(f"card {path}: 'config' lacks {', '.join(map(repr, missing))}; the "
                         "card was edited or damaged")
    return config


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
        ValueError: if ``weights_dir`` is empty, or a floating-point tensor is non-finite
            or has values beyond float16's range (+-65504), naming the tensor (saved as
            float16 it would become inf).
        NotADirectoryError, PermissionError: if ``weights_dir`` (or a parent) is a file or
            not writable (checked before anything is written).
        FileExistsError: if the checkpoint exists and ``overwrite`` is False.
        FileNotFoundError: a latent diffusion card without ``autoencoder_sha256`` whose
            autoencoder is not in ``weights_dir``.
        OSError: if the files cannot be written (the previous checkpoint is kept).
    """
    from ldm_teach.training.checkpoint import check_output_dir

    wpath, cpath = weights_path(name, weights_dir), card_path(name, weights_dir)
    check_output_dir(wpath.parent, what="weights_dir")
    if not overwrite and (wpath.exists() or cpath.exists()):
        raise FileExistsError(
            f"{wpath} already exists; pass overwrite=True (CLI: --overwrite) to replace it"
        )
    full = dict(card)
    parent = full.get("autoencoder")
    if (full.get("kind") == "latent_diffusion" and isinstance(parent, str) and parent != "pixel"
            and "autoencoder_sha256" not in full):
        full["autoencoder_sha256"] = load_card(parent, weights_dir)["sha256"]
    tensors = {}
    f16_max = torch.finfo(torch.float16).max
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            if value.numel():
                if not bool(torch.isfinite(value).all()):
                    raise ValueError(f"save_pretrained({name!r}): tensor {key!r} holds "
                                     "non-finite values (nan or inf); refusing to save it")
                peak = float(value.detach().abs().max())
                if peak > f16_max:
                    raise ValueError(
                        f"save_pretrained({name!r}): tensor {key!r} has a value of magnitude "
                        f"{peak:g}, beyond float16's range (+-{f16_max:g}); saved as float16 "
                        "it would become inf")
            value = value.half()
        tensors[key] = value
    with atomic_targets(wpath, cpath) as (wtmp, ctmp):
        write_tensors(tensors, wtmp, {"name": name})
        full.update({"name": name, "dtype": "float16", "sha256": sha256_file(wtmp)})
        full = sealed(full)
        Path(ctmp).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n",
                              encoding="utf-8")
    return wpath


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
    if not isinstance(card, dict) or card.get("name") != name or not isinstance(
            card.get("sha256"), str):
        raise ValueError(f"card {path} is not the card of {name!r} with the 'sha256' of its "
                         "weights; it was damaged or renamed")
    digest = sha256_file(wpath)
    if digest != card["sha256"]:
        raise ChecksumError(f"{wpath} has SHA-256 {digest}, but its card records "
                            f"{card['sha256']}; not sealing {name!r}")
    return card


def _refuse_forged_old_card(card: dict[str, Any], path: Path) -> None:
    """Raise CardEditedError for an "old" card no earlier version could have written: one
    carrying ``card_sha256`` (only format 3 writes it), or a format-2 latent diffusion card
    without its autoencoder pin (format 2 always wrote it). Lowering ``card_format`` must
    not be a way round the seal or the pin."""
    fmt = card.get("card_format", 1)
    forged = "card_sha256" in card or (
        fmt >= 2 and card.get("kind") == "latent_diffusion"
        and card.get("autoencoder") != "pixel" and "autoencoder_sha256" not in card)
    if forged:
        raise CardEditedError(
            f"card {path} says card_format {fmt} but holds what that format never wrote "
            "(a 'card_sha256', or a latent diffusion card without 'autoencoder_sha256'): it "
            "was edited. Restore it or train the model again; if the edit is deliberate, "
            "pass --accept-edits"
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
        ValueError: a damaged card (not JSON, another ``name``, no ``sha256``, a format
            newer than this version's).
    """
    from ldm_teach.training.checkpoint import atomic_write_text

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
        parent = card.get("autoencoder")
        if (card.get("kind") == "latent_diffusion" and isinstance(parent, str)
                and parent != "pixel" and "autoencoder_sha256" not in card):
            # the autoencoder's weights now in the folder, verified against its own card
            card["autoencoder_sha256"] = _verified_card(parent, folder)["sha256"]
        plan.append((name, sealed(card), what))
    for name, card, _ in plan:
        if card:
            atomic_write_text(card_path(name, folder),
                              json.dumps(card, indent=2, sort_keys=True) + "\n")
    return [(name, what) for name, _, what in plan]


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
    bad = [k for k, v in tensors.items() if v.is_floating_point() and v.numel()
           and not bool(torch.isfinite(v).all())]
    if bad:  # save_pretrained never writes them: a hand-made or damaged file
        raise ValueError(f"{wpath} holds non-finite values (NaN or inf) in {', '.join(bad[:5])}"
                         f"{' ...' if len(bad) > 5 else ''}; the model would compute NaN")
    return tensors, card


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
    from ldm_teach.metrics.features import DigitsFeatureNet

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
    if parent == "pixel":
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
    from ldm_teach.diffusion import ScheduleConfig
    from ldm_teach.models import LatentDiffusion, UNet, UNetConfig

    device = check_device(device)  # before reading anything
    tensors, card = load_state_dict(name, weights_dir)
    if card.get("kind") != "latent_diffusion":
        raise ValueError(f"{name!r} is a {card.get('kind')!r}, not a latent_diffusion")
    config = _card_config(card, name, weights_dir, "unet", "schedule", "scale_factor")
    check_autoencoder_pin(card, weights_dir)  # the autoencoder it was trained on, or refuse
    if card["autoencoder"] == "pixel":  # pixel-space baseline: stage 1 is the identity
        from ldm_teach.autoencoders.identity import IdentityAutoencoder

        autoencoder = IdentityAutoencoder(config["unet"]["in_channels"])
    else:
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
