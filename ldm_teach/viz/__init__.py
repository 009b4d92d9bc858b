"""Figures and tables for the notebooks: image grids (labelled rows, compact PNG grids),
latent maps, training and rate-distortion curves, readable log ticks, light palette PNGs,
and :func:`table` for rows of values.

The widgets live in ``viz.steppers`` (forward and reverse steppers, ``show``),
``viz.schedule_explorer`` and ``viz.playground``."""

from ldm_teach.viz.curves import plot_curves, plot_rate_distortion, smooth
from ldm_teach.viz.grid_png import grid_png, show_grid
from ldm_teach.viz.grids import (
    image_grid_tensor,
    save_image_grid,
    show_image_rows,
    show_images,
    to_uint8_grid,
)
from ldm_teach.viz.latents import embed_2d, plot_embedding
from ldm_teach.viz.png import compact_inline_figures, png_bytes
from ldm_teach.viz.tables import Table, table
from ldm_teach.viz.ticks import readable_log_ticks

__all__ = [
    "grid_png",
    "show_grid",
    "readable_log_ticks",
    "Table",
    "compact_inline_figures",
    "embed_2d",
    "image_grid_tensor",
    "plot_curves",
    "plot_embedding",
    "plot_rate_distortion",
    "png_bytes",
    "save_image_grid",
    "show_image_rows",
    "show_images",
    "smooth",
    "table",
    "to_uint8_grid",
]
