"""Image grids: tensors in [-1, 1] to PNG files and matplotlib figures.

Tiling uses ``torchvision.utils.make_grid``; files are written with Pillow.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.utils import make_grid

from ldm_teach.argcheck import check_real, is_int
from ldm_teach.training.checkpoint import atomic_write_bytes

#: largest ``upscale`` of :func:`save_image_grid`
MAX_UPSCALE = 32
#: largest number of pixels of the upscaled grid (about 200 MB of RGB in memory)
MAX_PIXELS = 2**26
#: largest magnitude accepted by :func:`to_uint8_grid`: [-1, 1] plus slack for unclamped
#: decoder outputs (clamped when drawn); [0, 255] images are refused, not drawn near-white
MAX_ABS_VALUE = 2.0


def to_uint8_grid(images: Tensor, nrow: int = 10, padding: int = 2) -> np.ndarray:
    """Tile images into one uint8 array.

    Args:
        images: (B, C, H, W) float with values in [-1, 1], C in {1, 3}, B >= 1; values up
            to :data:`MAX_ABS_VALUE` in magnitude are accepted and clamped to [-1, 1].
        nrow: images per row.
        padding: pixels between tiles.
    Returns:
        (H_grid, W_grid) uint8 for C = 1, or (H_grid, W_grid, 3) for C = 3.
    Raises:
        ValueError: if ``images`` is not a floating-point (B, 1 or 3, H, W) tensor with
            B >= 1, holds NaN or infinite values (they would silently become black or white
            pixels) or values beyond :data:`MAX_ABS_VALUE` (e.g. [0, 255] images, which
            would be drawn near-white), or ``nrow`` < 1.
    """
    if not isinstance(images, Tensor) or not images.is_floating_point():
        got = f"dtype {images.dtype}" if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(
            f"images must be a floating-point tensor with values in [-1, 1], got {got}; "
            "convert uint8 [0, 255] images with images.float() / 127.5 - 1"
        )
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape (B, 1 or 3, H, W), got {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise ValueError("images must hold at least one image (B >= 1), got an empty batch")
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    absmax = images.detach().abs().max()
    if not bool(torch.isfinite(absmax)):
        bad = int((~torch.isfinite(images.detach())).sum())
        raise ValueError(
            f"images has {bad} non-finite values (NaN or inf) of {images.numel()}; "
            "they have no pixel value: find where they come from (e.g. a diverged "
            "model) or replace them (torch.nan_to_num) before drawing"
        )
    if float(absmax) > MAX_ABS_VALUE:
        raise ValueError(
            f"images must have values in [-1, 1] (at most {MAX_ABS_VALUE} in magnitude), "
            f"got max |value| {float(absmax):.4g}; map [0, 255] images with x / 127.5 - 1 "
            "and [0, 1] images with 2 * x - 1"
        )
    x = (images.detach().float().cpu().clamp(-1, 1) + 1) / 2  # [0, 1]
    grid = make_grid(x, nrow=nrow, padding=padding, pad_value=1.0)  # (3, Hg, Wg)
    arr = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # (Hg, Wg, 3)
    return arr[..., 0] if images.shape[1] == 1 else arr


#: Formats a grid is written in: Pillow writes them at full size without extra plugins
#: (ICO would shrink the grid to 256 px; PSD, HDF5, GRIB, ... cannot be written).
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM", "TGA")


def image_format(path: str | os.PathLike) -> str:
    """The Pillow format name ``path``'s suffix asks for, one of :data:`IMAGE_FORMATS`.

    Raises:
        ValueError: naming the path, if its suffix is not one of those formats' suffixes.
    """
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt not in IMAGE_FORMATS:
        raise ValueError(
            f"path must end in an image suffix such as .png (formats: "
            f"{', '.join(IMAGE_FORMATS)}), got {str(path)!r}"
        )
    return fmt


def save_image_grid(
    images: Tensor,
    path: str | os.PathLike,
    nrow: int = 10,
    upscale: int = 2,
    *,
    overwrite: bool = False,
) -> Path:
    """Write a PNG grid of ``images`` ([-1, 1], (B, C, H, W)); returns the path.

    ``upscale`` (an int in [1, :data:`MAX_UPSCALE`]) enlarges each pixel by
    nearest-neighbour so small images stay legible. The format follows the suffix of
    ``path`` (``.png``, ...). The file is written atomically (a temporary file renamed
    over ``path``): an error or a full disk leaves an existing ``path`` as it was. An
    existing file is replaced only with ``overwrite=True``.

    Raises:
        FileExistsError: if ``path`` exists and ``overwrite`` is False (checked first).
        ValueError: for an ``upscale`` outside [1, MAX_UPSCALE] or one that would make
            more than :data:`MAX_PIXELS` pixels, a ``path`` whose suffix is not an image
            format, and as :func:`to_uint8_grid` for ``images``.
        OSError: if the file cannot be written.
    """
    if not is_int(upscale) or not (1 <= upscale <= MAX_UPSCALE):
        raise ValueError(f"upscale must be an int in [1, {MAX_UPSCALE}], got {upscale!r}")
    path = Path(path)
    if type(overwrite) is not bool:
        raise ValueError(f"overwrite must be a bool, got {overwrite!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    fmt = image_format(path)
    arr = to_uint8_grid(images, nrow)
    pixels = arr.shape[0] * arr.shape[1] * upscale**2
    if pixels > MAX_PIXELS:
        raise ValueError(
            f"upscale={upscale} would make a {arr.shape[1] * upscale}x{arr.shape[0] * upscale} "
            f"image ({pixels} pixels, more than {MAX_PIXELS}); choose a smaller upscale"
        )
    img = Image.fromarray(arr)
    if upscale > 1:
        img = img.resize((img.width * upscale, img.height * upscale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format=fmt, optimize=True)
    atomic_write_bytes(path, buf.getvalue())
    return path


def show_images(
    images: Tensor,
    nrow: int = 10,
    title: str | None = None,
    ax: plt.Axes | None = None,
    scale: float = 0.5,
) -> plt.Axes:
    """Draw a grid of images ([-1, 1]) on a matplotlib axis (a new figure if ``ax`` is None).

    Raises:
        ValueError: as :func:`to_uint8_grid` (bad shape, non-finite values, ``nrow`` < 1),
            or if ``scale`` (inches per image) is not a finite number in (0, 10].
    """
    check_real(scale, "scale", lo=0.0, hi=10.0, lo_open=True)
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


def _check_rows(rows, col_labels) -> tuple[list[str], Tensor, int]:
    if not isinstance(rows, Mapping) or not rows:
        raise ValueError("rows must be a non-empty dict of label -> (n, C, H, W) images")
    shapes = {
        k: tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__ for k, v in rows.items()
    }
    if len(set(shapes.values())) != 1 or not isinstance(next(iter(rows.values())), Tensor):
        raise ValueError(f"every row must be a tensor of the same shape (n, C, H, W), got {shapes}")
    n = next(iter(rows.values())).shape[0]
    if col_labels is not None and len(col_labels) != n:
        raise ValueError(f"col_labels must have one label per column ({n}), got {len(col_labels)}")
    return [str(k) for k in rows], torch.cat(list(rows.values())), n


def show_image_rows(
    rows: Mapping[str, Tensor],
    col_labels: Sequence[str] | None = None,
    *,
    ax: plt.Axes | None = None,
    scale: float = 0.75,
    title: str | None = None,
) -> plt.Axes:
    """One labelled row of images per entry of ``rows``, drawn as one grid: the row labels
    on the left, optional column labels on top (e.g. the timesteps of a forward process).

    Args:
        rows: label -> (n, C, H, W) images in [-1, 1], the same shape for every row.
        col_labels: n column labels, or None.
        ax: the axes to draw on; None makes a figure of ``scale`` inches per image.
        scale: inches per image of a new figure, a number in (0, 10].
        title: a title above the grid.
    Returns:
        the axes.
    Raises:
        ValueError: if rows is empty or its tensors differ in shape, col_labels is not n
            long, scale is out of range, or as :func:`to_uint8_grid` for the images.
    """
    check_real(scale, "scale", lo=0.0, hi=10.0, lo_open=True)
    labels, images, n = _check_rows(rows, col_labels)
    arr = to_uint8_grid(images, nrow=n)  # (Hg, Wg[, 3]), 2 pixels of padding
    h, w = images.shape[-2:]
    if ax is None:  # the grid gets scale * n inches; the labels a margin of their own
        grid_w = scale * n
        grid_h = grid_w * arr.shape[0] / arr.shape[1]
        left = 0.08 * max(len(k) for k in labels) + 0.1  # inches, at fontsize 9
        top = 0.3 * bool(col_labels) + 0.3 * bool(title) + 0.05
        fig, ax = plt.subplots(figsize=(grid_w + left + 0.05, grid_h + top + 0.05))
        fig.subplots_adjust(
            left=left / (grid_w + left + 0.05),
            right=1 - 0.05 / (grid_w + left + 0.05),
            bottom=0.05 / (grid_h + top + 0.05),
            top=1 - top / (grid_h + top + 0.05),
        )
    ax.imshow(
        arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest"
    )
    ax.set_yticks([2 + i * (h + 2) + h / 2 for i in range(len(labels))], labels, fontsize=9)
    ax.set_xticks([2 + j * (w + 2) + w / 2 for j in range(n)], col_labels or [""] * n, fontsize=9)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def image_grid_tensor(images: Tensor, nrow: int = 10) -> Tensor:
    """The grid as a float tensor in [0, 1], (3, H_grid, W_grid) (grey images repeated).

    Raises:
        ValueError: as :func:`to_uint8_grid` (bad shape, non-finite values, ``nrow`` < 1).
    """
    arr = to_uint8_grid(images, nrow)  # (Hg, Wg) or (Hg, Wg, 3)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)  # (Hg, Wg, 3)
    return torch.from_numpy(arr).permute(2, 0, 1).float() / 255.0  # (3, Hg, Wg)
