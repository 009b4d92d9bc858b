"""``ldm-teach info`` and ``ldm-teach seal-cards``: the shipped checkpoints, listed with
their state (missing, damaged, or size and the command that made it), and the sealing of
cards written by earlier versions (:func:`ldm_teach.pretrained.seal_cards`).
"""

from __future__ import annotations

import argparse


def _cmd_info(args: argparse.Namespace) -> int:
    from ldm_teach.pretrained import (
        REGISTRY,
        WEIGHTS_DIR,
        ParentMismatchError,
        available,
        load_card,
    )
    from ldm_teach.pretrained.registry import check_autoencoder_pin
    from ldm_teach.training.checkpoint import sha256_file

    present = set(available())
    for name, desc in REGISTRY.items():
        if name not in present:
            print(f"{name:14s} missing    {desc}\n{'':14s} make it: ldm-teach train {name}")
            continue
        try:
            card = load_card(name)
            digest = sha256_file(WEIGHTS_DIR / f"{name}.safetensors")
            if digest != card["sha256"]:
                raise ValueError(
                    f"{name}.safetensors has SHA-256 {digest}, its card "
                    f"records {card['sha256']}: the file is corrupted"
                )
            if card.get("kind") == "latent_diffusion":  # and trained on this autoencoder?
                check_autoencoder_pin(card)
        except (ValueError, OSError, ParentMismatchError) as err:
            print(f"{name:14s} damaged    {desc}\n{'':14s} {err}")
            continue
        size = (WEIGHTS_DIR / f"{name}.safetensors").stat().st_size / 1e6
        print(f"{name:14s} {size:5.2f} MB  {desc}\n{'':14s} made by: {card['command']}")
    return 0


def _cmd_seal_cards(args: argparse.Namespace) -> int:
    from ldm_teach.pretrained import ChecksumError, ParentMismatchError, seal_cards

    try:
        done = seal_cards(args.names or None, args.weights_dir, accept_edits=args.accept_edits)
    except (ChecksumError, ParentMismatchError) as err:
        raise ValueError(str(err)) from err
    for name, what in done:
        print(f"{name}: {what}")
    if not done:
        print("no checkpoints found")
    return 0
