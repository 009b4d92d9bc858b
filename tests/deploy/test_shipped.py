"""The shipped shapes-t2i, exported by the command line and sampled by ONNX Runtime."""

from __future__ import annotations

import re

import numpy as np
import torch

from ldm_teach.cli import main
from ldm_teach.deploy import OnnxTextToImage
from ldm_teach.pretrained.text_registry import load_text_to_image
from tests.deploy.conftest import needs_shapes_t2i


@needs_shapes_t2i
def test_export_onnx_command_prints_the_parity_figures(tmp_path, capsys):
    folder = tmp_path / "shapes-onnx"
    assert main(["export-onnx", "shapes-t2i", str(folder)]) == 0
    out = capsys.readouterr().out
    figures = dict(re.findall(r"^  (\w+) +([0-9.e+-]+)  \(", out, re.M))
    assert set(figures) == {"text_encoder", "unet", "decoder", "sampler"}
    assert all(float(v) < 1e-4 for v in figures.values()), out

    # the same prompts and noise as the PyTorch sampler, at the course's defaults
    model = load_text_to_image("shapes-t2i")
    prompts = ["a small red circle at the top left", "a large blue triangle in the centre"]
    x_T = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    theirs = model.sample(prompts, x_T=x_T, negative_prompt="green").numpy()
    ours = OnnxTextToImage(folder).sample(prompts, x_T=x_T.numpy(), negative_prompt="green")
    assert np.abs(ours - theirs).max() < 1e-4

    # a second export into the same folder is refused, naming it; --overwrite replaces it
    assert main(["export-onnx", "shapes-t2i", str(folder)]) == 2
    assert str(folder) in capsys.readouterr().err
    assert main(["export-onnx", "shapes-t2i", str(folder), "--overwrite"]) == 0
