"""The 10.3 notebook in a real browser: JupyterLab on loopback, Debian's Chromium driven by
Playwright, every cell run, the forward stepper's slider moved, and the redrawn image
checked to differ.

Needs ``/usr/bin/chromium`` (Debian package ``chromium``) and the ``playwright`` Python
package; ``.ci/run`` installs both.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from tests.browser.lab import CHROMIUM, run_all_and_move_slider, running_lab

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "10_3_latent_diffusion.ipynb"


def _require_browser() -> None:
    jupyter = Path(sys.executable).with_name("jupyter")
    if not Path(CHROMIUM).exists() or (shutil.which("jupyter") is None and not jupyter.exists()):
        pytest.fail(f"the browser test needs {CHROMIUM} (apt-get install chromium) and jupyter")
    pytest.importorskip("playwright", reason="pip install playwright")


def test_10_3_forward_stepper_redraws_in_chromium(tmp_path):
    _require_browser()
    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:  # start from a clean notebook, as a student would after "clear"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, root / NOTEBOOK.name)
    home = tmp_path / "home"
    home.mkdir()
    with running_lab(root, home) as (base, token):
        result = run_all_and_move_slider(
            base, token, NOTEBOOK.name, tmp_path / "stepper.png", timeout_s=900
        )
    assert result["errors"] == []
    assert result["before_readout"].strip() == "0"
    assert result["after_readout"].strip() == "50"  # ForwardStepper's default t grid: 0, 50, ...
    assert result["before_src"].startswith("blob:") or result["before_src"].startswith("data:")
    assert result["after_src"] != result["before_src"]
    assert (tmp_path / "stepper.png").stat().st_size > 10_000
