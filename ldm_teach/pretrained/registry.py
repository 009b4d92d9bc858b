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

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ldm_teach.autoencoders import VQVAE, AutoencoderKL, AutoencoderKLConfig, VQVAEConfig
from ldm_teach.training.checkpoint import (
    atomic_write_bytes,
    load_tensors,
    save_tensors_atomic,
    sha256_file,
)

WEIGHTS_DIR = Path(__file__).parent / "weights"

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


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"name must be a checkpoint name such as 'digits-kl-f4' (no folders; "
                         f"use weights_dir for another folder), got {name!r}")
    return name


def card_path(name: str, weights_dir: str | os.PathLike | None = None) -> Path:
    return Path(weights_dir or WEIGHTS_DIR) / f"{_check_name(name)}.json"


def weights_path(name: str, weights_dir: str | os.PathLike | None = None) -> Path:
    return Path(weights_dir or WEIGHTS_DIR) / f"{_check_name(name)}.safetensors"


def available(weights_dir: str | os.PathLike | None = None) -> list[str]:
    """Names whose weights and card are both present in ``weights_dir``."""
    folder = Path(weights_dir or WEIGHTS_DIR)
    return sorted(
        p.stem for p in folder.glob("*.json") if (folder / f"{p.stem}.safetensors").is_file()
    )


def load_card(name: str, weights_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Read a checkpoint's JSON card.

    Raises:
        FileNotFoundError: naming the missing file and the command that produces it.
    """
    path = card_path(name, weights_dir)
    if not path.is_file():
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise FileNotFoundError(
            f"no pretrained checkpoint {name!r} at {path} (known names: {known}); "
            f"produce it with `ldm-teach train {name}`"
        )
    return json.loads(path.read_text())


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
    Raises:
        FileExistsError: if the checkpoint exists and ``overwrite`` is False.
    """
    wpath, cpath = weights_path(name, weights_dir), card_path(name, weights_dir)
    if not overwrite and (wpath.exists() or cpath.exists()):
        raise FileExistsError(
            f"{wpath} already exists; pass overwrite=True (CLI: --overwrite) to replace it"
        )
    tensors = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    save_tensors_atomic(tensors, wpath, {"name": name})
    full = dict(card)
    full.update({"name": name, "dtype": "float16", "sha256": sha256_file(wpath)})
    atomic_write_bytes(cpath, (json.dumps(full, indent=2, sort_keys=True) + "\n").encode())
    return wpath


def load_state_dict(
    name: str, weights_dir: str | os.PathLike | None = None, verify: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load a checkpoint's tensors (as float32) and card, verifying the SHA-256.

    Raises:
        FileNotFoundError: if the card or the weights are missing.
        ChecksumError: if the weights' SHA-256 differs from the card's.
    """
    card = load_card(name, weights_dir)
    wpath = weights_path(name, weights_dir)
    if not wpath.is_file():
        raise FileNotFoundError(f"card {name!r} found but weights file {wpath} is missing")
    if verify:
        digest = sha256_file(wpath)
        if digest != card["sha256"]:
            raise ChecksumError(
                f"{wpath} has SHA-256 {digest}, but its card records {card['sha256']}; "
                f"the file is corrupted or was replaced"
            )
    tensors, _ = load_tensors(wpath)
    tensors = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
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
        ValueError: the checkpoint is not an autoencoder.
        ChecksumError: the weights file does not match its card.
    """
    tensors, card = load_state_dict(name, weights_dir)
    kind = card.get("kind")
    if kind == "autoencoder_kl":
        model = AutoencoderKL(AutoencoderKLConfig.from_dict(card["config"]))
    elif kind == "autoencoder_vq":
        model = VQVAE(VQVAEConfig.from_dict(card["config"]))
    else:
        raise ValueError(f"{name!r} is a {kind!r}, not an autoencoder_kl or autoencoder_vq")
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

    tensors, card = load_state_dict(name, weights_dir)
    if card.get("kind") != "feature_net":
        raise ValueError(f"{name!r} is a {card.get('kind')!r}, not a feature_net")
    net = DigitsFeatureNet(tuple(card["config"]["widths"]), card["config"]["num_classes"])
    net.load_state_dict(tensors)
    return net.eval().to(device)


def load_latent_diffusion(
    name: str = "digits-ldm",
    weights_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
):
    """A shipped LatentDiffusion model (its autoencoder loaded by the name on its card)."""
    from ldm_teach.diffusion import ScheduleConfig
    from ldm_teach.models import LatentDiffusion, UNet, UNetConfig

    tensors, card = load_state_dict(name, weights_dir)
    if card.get("kind") != "latent_diffusion":
        raise ValueError(f"{name!r} is a {card.get('kind')!r}, not a latent_diffusion")
    if card["autoencoder"] == "pixel":  # pixel-space baseline: stage 1 is the identity
        from ldm_teach.autoencoders.identity import IdentityAutoencoder

        autoencoder = IdentityAutoencoder(card["config"]["unet"]["in_channels"])
    else:
        autoencoder = load_autoencoder(card["autoencoder"], weights_dir)
    unet = UNet(UNetConfig.from_dict(card["config"]["unet"]))
    unet.load_state_dict(tensors)
    ldm = LatentDiffusion(
        autoencoder,
        unet,
        ScheduleConfig(**card["config"]["schedule"]),
        scale_factor=card["config"]["scale_factor"],
        cond_drop_prob=card["config"].get("cond_drop_prob", 0.0),
    )
    return ldm.eval().to(device)
