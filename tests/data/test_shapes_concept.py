"""The new concept for fine-tuning (a star): drawn like the others, outside every caption."""

import numpy as np
import pytest

from ldm_teach.data.shapes import (
    JITTER,
    NOVEL_SHAPES,
    SHAPES,
    ShapesDataset,
    all_attributes,
    caption_vocabulary,
    concept_attributes,
    render_shape,
    shape_mask,
)
from ldm_teach.text import shapes_tokenizer


def _star(**kw):
    return {"shape": "star", "colour": "red", "size": "large", "position": "centre", **kw}


def test_the_base_data_are_unchanged():
    assert SHAPES == ("circle", "square", "triangle") and "star" in NOVEL_SHAPES
    assert len(all_attributes()) == 216
    assert "star" not in caption_vocabulary() and len(caption_vocabulary()) == 19
    assert shapes_tokenizer().vocab_size == 25
    with pytest.raises(ValueError, match="unknown word 'star'"):
        shapes_tokenizer()("a large red star in the centre")


@pytest.mark.parametrize("position", ["top left", "top right", "bottom left", "bottom right"])
def test_the_star_stays_inside_the_canvas(position):
    centre = render_shape(_star(), 64).astype(float).sum()  # nowhere near an edge
    j = JITTER  # the dataset's largest shift
    for offset in ((-j, -j), (j, j), (j, -j), (-j, j)):
        star = render_shape(_star(position=position), 64, offset)
        circle = render_shape({**_star(position=position), "shape": "circle"}, 64, offset)
        assert star.shape == (64, 64, 3) and star.dtype == np.uint8
        assert not (star.any(-1) & ~circle.any(-1)).any()  # inscribed in the circle of radius r
        # nothing is cut off by the edge: the same amount of ink as in the centre
        assert abs(star.astype(float).sum() / centre - 1) < 0.02


def test_the_star_differs_from_every_base_shape():
    star = shape_mask(_star(), 64)
    assert 0.3 < star.sum() / shape_mask({**_star(), "shape": "circle"}, 64).sum() < 0.7
    for shape in SHAPES:
        other = shape_mask({**_star(), "shape": shape}, 64)
        iou = (star & other).sum() / (star | other).sum()
        assert iou < 0.7, (shape, iou)
    # five points: the upper tip, and the star is symmetric left-right
    assert star[:, 32 - 2 : 32 + 2].any(1).nonzero()[0].min() < star.any(1).nonzero()[0].min() + 2
    assert (star == star[:, ::-1]).mean() > 0.98


def test_concept_dataset():
    combos = concept_attributes("star")
    assert len(combos) == 72 and all(c["shape"] == "star" for c in combos)
    data = ShapesDataset(8, size=32, seed=0, combinations=combos)
    assert data.images.shape == (8, 3, 32, 32)
    assert all(c.split()[3] == "star" for c in data.captions)
    with pytest.raises(ValueError, match="shape"):
        concept_attributes("circle")
