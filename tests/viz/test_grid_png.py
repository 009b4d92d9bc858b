"""Compact PNG grids (ldm_teach.viz.grid_png)."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from ldm_teach.viz import grid_png, show_grid, to_uint8_grid


def test_exact_integer_zoom_of_the_grid_in_greyscale():
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    img = Image.open(io.BytesIO(grid_png(x, nrow=3, upscale=2)))
    grid = to_uint8_grid(x, 3)
    assert img.mode == "L" and img.size == (2 * grid.shape[1], 2 * grid.shape[0])
    assert np.array_equal(np.asarray(img)[::2, ::2], grid)  # every pixel a 2x2 block
    assert np.array_equal(np.asarray(img)[1::2, 1::2], grid)


def test_colour_images_stay_rgb_and_display_as_png():
    x = torch.zeros(2, 3, 4, 4)
    assert Image.open(io.BytesIO(grid_png(x, upscale=1))).mode == "RGB"
    shown = show_grid(x, nrow=2)
    assert shown.format == "png" and shown.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments_are_named():
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="upscale"):
        grid_png(x, upscale=0)
    with pytest.raises(ValueError, match="nrow"):
        grid_png(x, nrow=0)
    with pytest.raises(ValueError, match="images"):
        grid_png(torch.zeros(1, 2, 4, 4))
