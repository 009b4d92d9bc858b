"""A large image grid shown as a compact PNG: exact integer zoom, grey stays grey.

A matplotlib figure of 100 digits stores an RGBA PNG resampled to the figure's size; at a
width that reads well on a laptop (500 px and more) it costs well over 100 kB. The same
grid drawn by Pillow, each pixel enlarged to an ``upscale`` x ``upscale`` block and grey
images kept as 8-bit greyscale, is sharper and about half the size.
"""

from __future__ import annotations

import io

from PIL import Image
from torch import Tensor

from ldm_teach.argcheck import check_int
from ldm_teach.viz.grids import MAX_PIXELS, MAX_UPSCALE, to_uint8_grid


def grid_png(images: Tensor, nrow: int = 10, upscale: int = 2) -> bytes:
    """PNG bytes of the grid of ``images``, each pixel enlarged ``upscale`` times.

    Args:
        images: (B, C, H, W) float in [-1, 1], C in {1, 3} (as :func:`to_uint8_grid`).
        nrow: images per row, an int >= 1.
        upscale: nearest-neighbour zoom, an int in [1, MAX_UPSCALE].
    Returns:
        A PNG ("L" mode for C = 1, "RGB" for C = 3) of (upscale * H_grid, upscale * W_grid)
        pixels, the 2-pixel white padding of the grid included.
    Raises:
        ValueError: naming ``nrow`` or ``upscale`` if out of range, if the image would have
            more than MAX_PIXELS pixels, and as :func:`to_uint8_grid` for ``images``.
    """
    nrow = check_int(nrow, "nrow", 1)
    upscale = check_int(upscale, "upscale", 1, MAX_UPSCALE)
    arr = to_uint8_grid(images, nrow)  # (Hg, Wg) or (Hg, Wg, 3)
    if arr.shape[0] * arr.shape[1] * upscale**2 > MAX_PIXELS:
        raise ValueError(f"upscale={upscale} would make more than {MAX_PIXELS} pixels")
    img = Image.fromarray(arr)
    img = img.resize((img.width * upscale, img.height * upscale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def show_grid(images: Tensor, nrow: int = 10, upscale: int = 2):
    """The grid as an ``IPython.display.Image`` (the last line of a cell displays it).

    Args, Raises: as :func:`grid_png`.
    """
    from IPython.display import Image as DisplayImage  # notebooks only; IPython ships with them

    return DisplayImage(data=grid_png(images, nrow, upscale), format="png")
