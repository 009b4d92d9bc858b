"""The forward stepper in a real browser: JupyterLab on loopback, Debian's Chromium driven
by Playwright, all cells run, the slider moved, and the redrawn image checked to differ.

Needs ``/usr/bin/chromium`` (Debian package ``chromium``) and the ``playwright`` Python
package; ``.ci/run`` installs both.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from tests.browser.lab import CHROMIUM, run_all_and_move_slider, running_lab

pytestmark = pytest.mark.browser


def _require_browser() -> None:
    if not Path(CHROMIUM).exists() or shutil.which("jupyter") is None and not Path(
            __import__("sys").executable).with_name("jupyter").exists():
        pytest.fail(f"the browser test needs {CHROMIUM} (apt-get install chromium) and jupyter")
    pytest.importorskip("playwright", reason="pip install playwright")


STEPPER_NOTEBOOK = [
    "import torch\n"
    "from ldm_teach.data import DigitsDataset\n"
    "from ldm_teach.pretrained import load_latent_diffusion\n"
    "from ldm_teach.viz.steppers import ForwardStepper, show\n"
    "ldm = load_latent_diffusion('digits-ldm')\n"
    "z0 = ldm.encode(DigitsDataset('test').images[:1])[0]\n"
    "stepper = ForwardStepper(z0, ldm.schedule, ldm.decode, timesteps=list(range(0, 1000, 100)))\n"
    "box = show(stepper)",
    "print('done')",
]


def test_forward_stepper_redraws_in_chromium(tmp_path):
    _require_browser()
    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in STEPPER_NOTEBOOK])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, root / "stepper.ipynb")
    home = tmp_path / "home"
    home.mkdir()
    with running_lab(root, home) as (base, token):
        result = run_all_and_move_slider(base, token, "stepper.ipynb", tmp_path / "stepper.png",
                                         timeout_s=300)
    assert result["errors"] == []
    assert result["before_readout"].strip() == "0"
    assert result["after_readout"].strip() == "100"
    assert result["before_src"].startswith("blob:") or result["before_src"].startswith("data:")
    assert result["after_src"] != result["before_src"]
    assert (tmp_path / "stepper.png").stat().st_size > 10_000
