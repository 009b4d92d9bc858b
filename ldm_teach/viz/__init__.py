"""Figures and tables for the notebooks: image grids, latent maps, training and
rate-distortion curves, readable log axes, and :func:`table` for rows of values.

The widgets live in ``viz.steppers`` (forward and reverse steppers, ``show``) and
``viz.schedule_explorer``."""

from ldm_teach.viz.curves import log_axis, plot_curves, plot_rate_distortion, smooth
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

__all__ = [
    "Table",
    "compact_inline_figures",
    "embed_2d",
    "image_grid_tensor",
    "log_axis",
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
