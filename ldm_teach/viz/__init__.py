"""Figures for the notebooks: image grids and latent maps."""

from ldm_teach.viz.grids import image_grid_tensor, save_image_grid, show_images, to_uint8_grid
from ldm_teach.viz.latents import embed_2d, plot_embedding

__all__ = [
    "embed_2d",
    "image_grid_tensor",
    "plot_embedding",
    "save_image_grid",
    "show_images",
    "to_uint8_grid",
]
