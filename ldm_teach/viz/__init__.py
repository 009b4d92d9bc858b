"""Figures and tables for the notebooks: image grids, latent maps, training and
rate-distortion curves, and :func:`table` for rows of values."""

from ldm_teach.viz.curves import plot_curves, plot_rate_distortion, smooth
from ldm_teach.viz.grid_png import grid_png, show_grid
from ldm_teach.viz.grids import image_grid_tensor, save_image_grid, show_images, to_uint8_grid
from ldm_teach.viz.latents import embed_2d, plot_embedding
from ldm_teach.viz.tables import Table, table
from ldm_teach.viz.ticks import readable_log_ticks

__all__ = [
    "grid_png",
    "show_grid",
    "readable_log_ticks",
    "Table",
    "embed_2d",
    "image_grid_tensor",
    "plot_curves",
    "plot_embedding",
    "plot_rate_distortion",
    "save_image_grid",
    "show_images",
    "smooth",
    "table",
    "to_uint8_grid",
]
