"""The shipped shapes-t2i model (fresh for each test: adapting changes it in place) and a
tiny set of a concept it never saw: stars."""

import pytest

from ldm_teach.data.shapes import ShapesDataset, concept_attributes
from ldm_teach.pretrained.text_registry import load_text_to_image


@pytest.fixture
def model():
    return load_text_to_image("shapes-t2i")


@pytest.fixture(scope="session")
def stars():
    """8 star images (3, 32, 32) in [-1, 1] and their captions ("a small red star ...")."""
    data = ShapesDataset(8, size=32, seed=0, combinations=concept_attributes("star"))
    return data.images, data.captions
