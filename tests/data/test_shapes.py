"""Tests for ldm_teach.data.shapes: determinism, ranges and that captions tell the truth."""

import numpy as np
import pytest
import torch

from ldm_teach.data.shapes import (
    COLOURS,
    JITTER,
    POSITIONS,
    SHAPES,
    SIZES,
    ShapesDataset,
    caption_for,
    render_shape,
)


@pytest.fixture(scope="module")
def dataset():
    return ShapesDataset(num_samples=200, size=32, seed=0)


def test_shapes_dtypes_and_range(dataset):
    assert dataset.images.shape == (200, 3, 32, 32) and dataset.images.dtype == torch.float32
    assert dataset.images.min() >= -1.0 and dataset.images.max() <= 1.0
    assert len(dataset) == 200 and len(dataset.captions) == 200 and len(dataset.attributes) == 200
    image, caption = dataset[0]
    assert image.shape == (3, 32, 32) and isinstance(caption, str)
    # black background: the corners of every image are -1
    assert torch.all(dataset.images[:, :, 0, 0] == -1.0)


def test_same_seed_same_data_other_seed_other_data(dataset):
    again = ShapesDataset(num_samples=200, size=32, seed=0)
    assert torch.equal(again.images, dataset.images) and again.captions == dataset.captions
    other = ShapesDataset(num_samples=200, size=32, seed=1)
    assert other.captions != dataset.captions


def test_captions_match_attributes(dataset):
    assert (
        caption_for({"shape": "circle", "colour": "red", "size": "small", "position": "top left"})
        == "a small red circle at the top left"
    )
    for a, caption in zip(dataset.attributes, dataset.captions, strict=True):
        assert a["shape"] in SHAPES and a["colour"] in COLOURS
        assert a["size"] in SIZES and a["position"] in POSITIONS
        assert caption == caption_for(a)
        assert caption.startswith(f"a {a['size']} {a['colour']} {a['shape']} ")


def test_image_shows_its_caption(dataset):
    for image, a in zip(dataset.images, dataset.attributes, strict=True):
        rgb = (image + 1.0) * 127.5  # (3, H, W) in [0, 255]
        mask = rgb.sum(0) > 1.0  # (H, W) pixels touched by the shape
        # colour: the fully covered pixels carry the named colour
        brightest = rgb[:, mask].sum(0).argmax()
        assert torch.allclose(
            rgb[:, mask][:, brightest],
            torch.tensor(COLOURS[a["colour"]], dtype=torch.float32),
            atol=1.0,
        )
        # position: the centre of mass lies in the named cell of the 3x3 grid
        ys, xs = torch.nonzero(mask, as_tuple=True)
        cx, cy = POSITIONS[a["position"]]
        assert abs(xs.float().mean().item() + 0.5 - cx * 32) < 32 / 6
        assert abs(ys.float().mean().item() + 0.5 - cy * 32) < 32 / 6


def _area(attributes, size=32):
    """Area covered by one rendered shape, in output pixels (partial pixels count pro rata)."""
    rgb = render_shape(attributes, size=size).astype(np.float64)
    return rgb.max(axis=2).sum() / max(COLOURS[attributes["colour"]])


def test_areas_follow_the_size_radius():
    base = {"colour": "green", "position": "centre"}
    for shape in SHAPES:
        small = _area({**base, "shape": shape, "size": "small"})
        large = _area({**base, "shape": shape, "size": "large"})
        assert large > 2 * small
    # a large circle has area pi r^2 with r = 0.14 * 32 pixels, up to edge rounding
    assert _area({**base, "shape": "circle", "size": "large"}) == pytest.approx(
        np.pi * (0.14 * 32) ** 2, rel=0.05
    )
    # squares are drawn with the circle's area
    for size in SIZES:
        circle = _area({**base, "shape": "circle", "size": size})
        square = _area({**base, "shape": "square", "size": size})
        assert square == pytest.approx(circle, rel=0.1)


def test_shapes_stay_inside_the_image_at_the_largest_jitter():
    for shape in ("circle", "square"):
        a = {"shape": shape, "colour": "yellow", "size": "large"}
        centre = _area({**a, "position": "centre"}, size=64)
        for position, offset in (
            ("top left", (-JITTER, -JITTER)),
            ("bottom right", (JITTER, JITTER)),
        ):
            rgb = render_shape({**a, "position": position}, size=64, offset=offset)
            area = rgb.astype(np.float64).max(axis=2).sum() / 240.0
            # a shape cut by the border would lose 10 % or more of its area
            assert area == pytest.approx(centre, rel=0.05)


@pytest.mark.parametrize(
    "kwargs, argument", [({"num_samples": 0}, "num_samples"), ({"size": 8}, "size")]
)
def test_bad_arguments_raise(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        ShapesDataset(**kwargs)


def test_unknown_attribute_raises():
    with pytest.raises(ValueError, match="colour"):
        render_shape({"shape": "circle", "colour": "purple", "size": "small", "position": "top"})


@pytest.mark.parametrize(
    "size,offset,message",
    [
        (0, (0.0, 0.0), "size must be an int in"),
        (32.0, (0.0, 0.0), "size must be an int in"),
        (32, (float("nan"), 0.0), "offset must be two finite"),
        (32, (5.0, 0.0), "offset must"),
        (32, (0.0,), "offset must"),
    ],
)
def test_render_shape_refuses_a_bad_size_or_offset(size, offset, message):
    # found by the third bad-input pass: a NaN offset drew a blank image, size 0 an empty one
    from ldm_teach.data.shapes import render_shape

    attrs = {"shape": "circle", "colour": "red", "size": "small", "position": "top"}
    with pytest.raises(ValueError, match=message):
        render_shape(attrs, size, offset)


def test_all_attributes_are_the_216_distinct_combinations():
    from ldm_teach.data.shapes import all_attributes, caption_vocabulary

    combos = all_attributes()
    assert len(combos) == 216 and len({caption_for(a) for a in combos}) == 216
    words = caption_vocabulary()
    assert len(words) == len(set(words)) == 19
    assert all(w in words for a in combos for w in caption_for(a).split())


def test_held_out_combinations_are_new_only_as_a_whole():
    from itertools import combinations

    from ldm_teach.data.shapes import ATTRIBUTES, all_attributes, held_out_attributes

    held = held_out_attributes()
    assert len(held) == 24 and held == held_out_attributes()  # fixed, not re-drawn
    kept = [c for c in all_attributes() if c not in held]
    for h in held:
        for a, b in combinations(ATTRIBUTES, 2):  # every pair of its values was seen
            assert any(c[a] == h[a] and c[b] == h[b] for c in kept)
    train = ShapesDataset(num_samples=500, seed=0, combinations=kept)
    assert not any(a in held for a in train.attributes)


def test_masks_cover_the_drawn_shape():
    data = ShapesDataset(num_samples=50, size=32, seed=3)
    assert data.masks.shape == (50, 32, 32) and data.masks.dtype == torch.bool
    bright = data.images.max(dim=1).values > 0.0  # (N, H, W): clearly not background
    inside = (bright & data.masks).sum() / bright.sum()
    assert inside > 0.9  # bright pixels lie inside the masks
    assert data.masks.flatten(1).any(1).all()  # every image has a shape


def test_bad_combinations_are_refused():
    with pytest.raises(ValueError, match="combinations must be"):
        ShapesDataset(num_samples=5, combinations=[])
    with pytest.raises(ValueError, match="combinations must be"):
        ShapesDataset(num_samples=5, combinations=[{"shape": "star"}])
