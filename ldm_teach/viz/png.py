"""Figures as light PNGs: a palette of at most 256 colours instead of 32-bit RGBA.

Notebooks are committed with their outputs, so every figure is stored in the repository.
A line chart or an image grid uses far fewer than 256 distinct colours once anti-aliasing
is folded into a palette; quantising it (Pillow's median cut, no dithering) makes the PNG
two to three times smaller at the same resolution. A figure of at most ``colors``
distinct colours (a grey image grid: 256 grey levels are all a uint8 grid has) keeps every
pixel exactly.

- :func:`png_bytes`: one figure to palette-PNG bytes (the steppers' frames use it);
- :func:`compact_inline_figures`: in a Jupyter kernel, make every figure a notebook
  displays (``plt.show()``, ``display(fig)``) such a PNG.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from ldm_teach.argcheck import check_bool, check_int

__all__ = ["compact_inline_figures", "png_bytes"]


def png_bytes(fig: Figure, *, colors: int = 256, tight: bool = False) -> bytes:
    """``fig`` rendered at its own dpi as a palette PNG (mode "P", at most ``colors``):
    exact when the rendering has at most ``colors`` distinct colours, else median cut.

    Args:
        fig: a matplotlib figure (left open: the caller decides when to close it).
        colors: palette size, an int in [2, 256].
        tight: crop to the drawn content (``bbox_inches="tight"``, as Jupyter does).
    Returns:
        the PNG file's bytes.
    Raises:
        ValueError: if colors is not an int in [2, 256] or tight is not a bool.
    """
    colors = check_int(colors, "colors", 2, 256)
    tight = check_bool(tight, "tight")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight" if tight else None)
    buf.seek(0)
    with Image.open(buf) as img:
        rgb = img.convert("RGB")  # figures are opaque: the alpha channel carries nothing
    pixels = np.asarray(rgb).reshape(-1, 3)  # (H * W, 3) uint8
    distinct, index = np.unique(pixels, axis=0, return_inverse=True)
    if len(distinct) <= colors:  # few colours (a grey grid): an exact palette
        palette = Image.fromarray(index.reshape(rgb.height, rgb.width).astype(np.uint8), "P")
        palette.putpalette(distinct.flatten().tolist())
    else:  # anti-aliased colour lines: median cut, no dithering (it would add noise)
        palette = rgb.quantize(colors, dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)
    return out.getvalue()


def compact_inline_figures(colors: int = 256) -> bool:
    """Display every matplotlib figure of this IPython session as a palette PNG.

    Registers :func:`png_bytes` (``tight=True``) as the ``image/png`` formatter of
    ``matplotlib.figure.Figure`` in the running shell, replacing the inline backend's, so
    ``plt.show()`` stores a PNG two to three times lighter at the same resolution. It
    loads pyplot's backend first (``plt.switch_backend``, which closes open figures), so
    call it before drawing.

    Args:
        colors: palette size, an int in [2, 256].
    Returns:
        True if registered, False outside IPython (nothing to do).
    Raises:
        ValueError: if colors is not an int in [2, 256].
    """
    colors = check_int(colors, "colors", 2, 256)
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    import matplotlib.pyplot as plt

    # pyplot loads its backend lazily, and the inline backend registers its own PNG
    # formatter when it loads, replacing any registered before: load it now, first
    plt.switch_backend(plt.get_backend())
    formatter = shell.display_formatter.formatters["image/png"]
    formatter.for_type(Figure, lambda fig: png_bytes(fig, colors=colors, tight=True))
    return True
