"""Offline data sets for the course: digits, photo patches and captioned shapes.

Every loader here reads data that ship inside installed packages (scikit-learn, scikit-image)
or draws them procedurally; nothing is downloaded. Images are float32 in [-1, 1].
"""

from ldm_teach.data.digits import (
    DIGITS_SPLIT_SEED,
    DigitsDataset,
    digits_from_8x8,
    digits_split,
    digits_to_8x8,
    load_digits_8x8,
)
from ldm_teach.data.distortions import equal_mse_distortions
from ldm_teach.data.photos import (
    PHOTO_SPLITS,
    PhotoPatchDataset,
    load_photo,
    patchify,
    photo_crops,
    photo_patches,
)
from ldm_teach.data.shapes import (
    ATTRIBUTES,
    COLOURS,
    NOVEL_SHAPES,
    POSITIONS,
    SHAPES,
    SIZES,
    ShapesDataset,
    all_attributes,
    attribute_values,
    caption_for,
    caption_vocabulary,
    concept_attributes,
    held_out_attributes,
    render_shape,
    shape_mask,
)

__all__ = [
    "ATTRIBUTES",
    "COLOURS",
    "DIGITS_SPLIT_SEED",
    "DigitsDataset",
    "NOVEL_SHAPES",
    "PHOTO_SPLITS",
    "POSITIONS",
    "PhotoPatchDataset",
    "SHAPES",
    "SIZES",
    "ShapesDataset",
    "all_attributes",
    "attribute_values",
    "caption_for",
    "caption_vocabulary",
    "concept_attributes",
    "held_out_attributes",
    "digits_from_8x8",
    "digits_split",
    "digits_to_8x8",
    "equal_mse_distortions",
    "load_digits_8x8",
    "load_photo",
    "patchify",
    "photo_crops",
    "photo_patches",
    "render_shape",
    "shape_mask",
]
