"""What every recipe run shares: the output check before training, the seeded training
config, the data, and the card fields every trainer writes the same way."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import torch

from ldm_teach.argcheck import check_bool
from ldm_teach.data import DigitsDataset, photo_patches
from ldm_teach.data.shapes import shapes_split
from ldm_teach.device import default_device, seed_everything
from ldm_teach.pretrained.cards import WEIGHTS_DIR, card_path, weights_path
from ldm_teach.training import TrainConfig
from ldm_teach.training.checkpoint import check_output_dir

#: Steps per point of the loss curves stored on cards.
CURVE_EVERY = 10


def refuse_to_overwrite(name: str, out_dir: Path | None, overwrite: bool) -> Path:
    """The folder a recipe writes to, checked before training, not after.

    Raises:
        ValueError, NotADirectoryError, PermissionError: ``out_dir`` is empty, a file or
            not writable.
        IsADirectoryError: the weights or card path is a folder.
        FileExistsError: the checkpoint exists and ``overwrite`` is False.
    """
    overwrite = check_bool(overwrite, "overwrite")  # "False" must not mean yes
    folder = check_output_dir(WEIGHTS_DIR if out_dir is None else out_dir, what="out_dir")
    paths = (weights_path(name, folder), card_path(name, folder))
    for path in paths:
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder; it cannot be replaced by a file")
    for path in paths:
        if not overwrite and path.exists():
            raise FileExistsError(
                f"{path} already exists; pass --overwrite to replace it or --out-dir to "
                f"train a copy elsewhere"
            )
    return folder


def prepare(train_config: TrainConfig, steps: int | None) -> tuple[TrainConfig, torch.device]:
    """The recipe's train config (with ``steps`` overridden), seeded RNGs, and the device."""
    cfg = train_config if steps is None else replace(train_config, steps=steps)
    seed_everything(cfg.seed)
    return cfg, default_device()


def final_loss(losses: list[float], window: int = 50) -> float:
    """Mean training loss over the last ``window`` steps, rounded for the card."""
    tail = losses[-window:]
    return round(sum(tail) / len(tail), 5)


def curve(values: list[float], every: int = CURVE_EVERY) -> list[float]:
    """A training curve for the card: means of consecutive windows of ``every`` steps."""
    return [
        round(sum(values[i : i + every]) / len(values[i : i + every]), 5)
        for i in range(0, len(values), every)
    ]


def default_command(name: str, steps: int | None) -> str:
    """The ``ldm-teach train`` command line equivalent to a run of ``name``."""
    return f"ldm-teach train {name}" + (f" --steps {steps}" if steps is not None else "")


def recipe_images(data: str, split: str, size: int) -> torch.Tensor:
    """(N, C, size, size) images in [-1, 1] of a recipe's dataset ("digits", "photos" or
    "shapes": :func:`~ldm_teach.data.shapes.shapes_split`)."""
    if data == "digits":
        return DigitsDataset(split=split, size=size).images
    if data == "photos":
        # overlapping patches (stride size/2) give the small photo set 4x more examples
        return photo_patches(
            split=split, patch_size=size, stride=size // 2 if split == "train" else size
        )
    if data == "shapes":
        return shapes_split(split, size).images
    raise ValueError(f"data must be 'digits', 'photos' or 'shapes', got {data!r}")


def run_card(
    name: str,
    steps: int | None,
    command: str | None,
    cfg: TrainConfig,
    losses: list[float],
    wall_s: float,
) -> dict:
    """The card fields every recipe writes: training config, steps, final loss, wall time
    (seconds), the command line, and the torch version."""
    return {
        "train_config": asdict(cfg),
        "steps": cfg.steps,
        "final_loss": final_loss(losses),
        "wall_time_s": round(wall_s, 1),
        "command": command or default_command(name, steps),
        "torch_version": torch.__version__,
    }
