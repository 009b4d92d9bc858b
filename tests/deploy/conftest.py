"""Exports shared by the deploy tests: the tiny random text-to-image model of
``tests/pipelines`` (built, never trained), exported once per session."""

import pytest

from ldm_teach.deploy import export_onnx
from ldm_teach.pretrained import available
from tests.pipelines.conftest import tiny_model

needs_shapes_t2i = pytest.mark.skipif(
    "shapes-t2i" not in set(available()), reason="shipped weights not present"
)


@pytest.fixture(scope="session")
def tiny():
    return tiny_model().eval()


@pytest.fixture(scope="session")
def tiny_folder(tiny, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-onnx")
    export_onnx(tiny, folder)
    return folder
