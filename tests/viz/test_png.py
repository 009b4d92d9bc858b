"""Light PNGs: figures quantised to a palette, and the IPython formatter that uses it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import io  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from ldm_teach.viz import compact_inline_figures, png_bytes  # noqa: E402


def _chart() -> Figure:
    fig = Figure(figsize=(6, 3), dpi=100)
    ax = fig.add_subplot()
    x = np.linspace(0, 10, 400)
    for k in range(6):
        ax.plot(x, np.sin(x + k), label=f"curve {k}")
    ax.legend()
    return fig


def test_png_bytes_is_a_palette_png_of_the_figure_size_and_lighter():
    fig = _chart()
    data = png_bytes(fig)
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG" and img.mode == "P" and img.size == (600, 300)
    assert len(img.getcolors()) <= 256
    rgba = io.BytesIO()
    fig.savefig(rgba, format="png", dpi=100)
    assert len(data) < 0.7 * len(rgba.getvalue())
    assert len(Image.open(io.BytesIO(png_bytes(fig, colors=8))).getcolors()) <= 8


def test_png_bytes_keeps_grey_levels_exactly():
    fig = Figure(figsize=(2, 2), dpi=64)
    ax = fig.add_axes((0, 0, 1, 1))
    ramp = np.tile(np.arange(128, dtype=np.uint8) * 2, (128, 1))  # 128 grey levels
    ax.imshow(ramp, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    plain = io.BytesIO()
    fig.savefig(plain, format="png", dpi=64)
    drawn = np.asarray(Image.open(plain).convert("RGB"))  # what matplotlib draws
    back = np.asarray(Image.open(io.BytesIO(png_bytes(fig))).convert("RGB"))
    assert np.array_equal(back, drawn) and len(np.unique(back)) == 128


def test_png_bytes_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r"colors must be an int in \[2, 256\]"):
        png_bytes(_chart(), colors=1)
    with pytest.raises(ValueError, match="tight must be True or False"):
        png_bytes(_chart(), tight="yes")


def test_compact_inline_figures_registers_the_formatter_in_ipython():
    from IPython.core.interactiveshell import InteractiveShell

    assert compact_inline_figures() is False  # plain Python: nothing to do
    shell = InteractiveShell.instance()
    try:
        assert compact_inline_figures(colors=64) is True
        fig, ax = plt.subplots(figsize=(3, 2), dpi=100)
        ax.plot([0, 1], [0, 1])
        data = shell.display_formatter.formatters["image/png"](fig)
        img = Image.open(io.BytesIO(data))
        assert img.mode == "P" and len(img.getcolors()) <= 64
        plt.close(fig)
    finally:
        InteractiveShell.clear_instance()
    with pytest.raises(ValueError, match="colors"):
        compact_inline_figures(colors=300)
