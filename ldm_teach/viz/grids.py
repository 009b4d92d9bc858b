"""Image grids: tensors in [-1, 1] to PNG files and matplotlib figures.

Tiling uses ``torchvision.utils.make_grid``; files are written with Pillow.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.utils import make_grid


def to_uint8_grid(images: Tensor, nrow: int = 10, padding: int = 2) -> np.ndarray:
    """Tile images into one uint8 array.

    Args:
        images: (B, C, H, W) float with values in [-1, 1] (clamped), C in {1, 3}.
        nrow: images per row.
        padding: pixels between tiles.
    Returns:
        (H_grid, W_grid) uint8 for C = 1, or (H_grid, W_grid, 3) for C = 3.
    Raises:
        ValueError: if ``images`` is not (B, 1 or 3, H, W) or ``nrow`` < 1.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape (B, 1 or 3, H, W), got {tuple(images.shape)}")
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    x = (images.detach().float().cpu().clamp(-1, 1) + 1) / 2  # [0, 1]
    grid = make_grid(x, nrow=nrow, padding=padding, pad_value=1.0)  # (3, Hg, Wg)
    arr = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # (Hg, Wg, 3)
    return arr[..., 0] if images.shape[1] == 1 else arr


def save_image_grid(
    images: Tensor, path: str | os.PathLike, nrow: int = 10, upscale: int = 2
) -> Path:
    """Write a PNG grid of ``images`` ([-1, 1], (B, C, H, W)); returns the path.

    ``upscale`` enlarges each pixel by nearest-neighbour so small images stay legible.
    """
    if upscale < 1:
        raise ValueError(f"upscale must be >= 1, got {upscale}")
    arr = to_uint8_grid(images, nrow)
    img = Image.fromarray(arr)
    if upscale > 1:
        img = img.resize((img.width * upscale, img.height * upscale), Image.Resampling.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=True)
    return path


def show_images(
    images: Tensor,
    nrow: int = 10,
    title: str | None = None,
    ax: plt.Axes | None = None,
    scale: float = 0.5,
) -> plt.Axes:
    """Draw a grid of images ([-1, 1]) on a matplotlib axis (a new figure if ``ax`` is None)."""
    arr = to_uint8_grid(images, nrow)
    if ax is None:
        ncol = min(nrow, images.shape[0])
        nrows = int(np.ceil(images.shape[0] / nrow))
        _, ax = plt.subplots(figsize=(max(2.0, scale * ncol), max(1.0, scale * nrows) + 0.3))
    ax.imshow(
        arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest"
    )
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def image_grid_tensor(images: Tensor, nrow: int = 10) -> Tensor:
    """The grid as a float tensor in [0, 1], (3, H_grid, W_grid) (grey images repeated)."""
    arr = to_uint8_grid(images, nrow)  # (Hg, Wg) or (Hg, Wg, 3)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)  # (Hg, Wg, 3)
    return torch.from_numpy(arr).permute(2, 0, 1).float() / 255.0  # (3, Hg, Wg)
