"""The 10.4 notebook in a real browser: every cell run, a prompt typed into the prompt
playground, generate pressed, and a new image checked to appear.

Needs ``/usr/bin/chromium`` and the ``playwright`` package, as the 10.3 browser test.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests.browser.lab import run_all_and_generate, running_lab
from tests.browser.test_steppers_in_browser import _require_browser

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "10_4_stable_diffusion.ipynb"


def test_10_4_playground_generates_a_new_image_in_chromium(tmp_path):
    _require_browser()
    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, root / NOTEBOOK.name)
    home = tmp_path / "home"
    home.mkdir()
    with running_lab(root, home) as (base, token):
        result = run_all_and_generate(
            base,
            token,
            NOTEBOOK.name,
            "a small red circle at the top left",
            tmp_path / "playground.png",
            timeout_s=900,
        )
    assert result["errors"] == []
    assert result["after_src"] != result["before_src"]
    assert result["message"].strip() == ""  # a known prompt: no error line
    assert (tmp_path / "playground.png").stat().st_size > 10_000
