"""The ONNX Runtime sampler: numpy and onnxruntime only, the PyTorch sampler's conventions,
the same images from the same noise."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from ldm_teach.data.shapes import all_attributes, caption_for
from ldm_teach.deploy import NumpyWordTokenizer, OnnxTextToImage, ddim_timesteps, read_config
from ldm_teach.diffusion import ddim_timesteps as torch_ddim_timesteps

ROOT = Path(__file__).resolve().parents[2]


def test_tokenizer_gives_the_ids_of_the_torch_tokenizer(tiny, tiny_folder):
    ours = NumpyWordTokenizer.from_config(read_config(tiny_folder)["tokenizer"])
    texts = [caption_for(a) for a in all_attributes()] + ["", "Red, BLUE.", "a circle and a square"]
    assert np.array_equal(ours(texts), tiny.tokenizer(texts).input_ids.numpy())
    assert ours(texts).dtype == np.int64
    with pytest.raises(ValueError, match="unknown word 'purple'"):
        ours("a purple circle")
    with pytest.raises(ValueError, match="context_length=16"):
        ours(" ".join(["red"] * 15))


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_timesteps_are_the_torch_samplers(spacing):
    for n in (1, 7, 25, 61, 1000):
        expected = torch_ddim_timesteps(n, 1000, spacing).tolist()
        assert ddim_timesteps(n, 1000, spacing) == expected
    with pytest.raises(ValueError, match="num_inference_steps"):
        ddim_timesteps(0, 1000)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"negative_prompt": "red", "guidance_rescale": 0.7, "guidance_scale": 4.0},
        {"guidance_scale": 1.0},
        {"spacing": "trailing", "guidance_scale": 0.0},
    ],
    ids=["defaults", "negative+rescale", "no-guidance", "trailing-uncond"],
)
def test_same_noise_gives_the_same_images_as_pytorch(tiny, tiny_folder, kwargs):
    prompts = ["a red circle", "a large blue square at the top left"]
    x_T = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    theirs = tiny.sample(prompts, x_T=x_T, num_inference_steps=10, **kwargs).numpy()
    ours = OnnxTextToImage(tiny_folder).sample(
        prompts, x_T=x_T.numpy(), num_inference_steps=10, **kwargs
    )
    assert ours.shape == (2, 3, 16, 16) and ours.dtype == np.float32
    assert np.abs(ours - theirs).max() < 1e-4


def test_sampler_runs_with_torch_blocked(tiny_folder):
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None  # any import of torch now raises ImportError
        import numpy as np
        from ldm_teach.deploy.onnx_sampler import OnnxTextToImage
        model = OnnxTextToImage({str(tiny_folder)!r}, num_threads=1)
        images = model.sample(["a red circle"], num_inference_steps=3,
                              generator=np.random.default_rng(0), height=24, width=32)
        print(images.shape, images.dtype, bool(np.abs(images).max() <= 1))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1, 3, 24, 32) float32 True"


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"x_T": np.zeros((1, 4, 4, 4), np.float32)}, ValueError, r"x_T must be .*\(1, 4, 8, 8\)"),
        ({"guidance_scale": float("nan")}, ValueError, "guidance_scale"),
        ({"guidance_rescale": 2.0}, ValueError, "guidance_rescale"),
        ({"num_inference_steps": 0}, ValueError, "num_inference_steps"),
        ({"negative_prompt": "red", "guidance_scale": 1.0}, ValueError, "guidance_scale=1"),
        ({"negative_prompt": ["red", "blue"]}, ValueError, "one per prompt"),
        ({"height": 18}, ValueError, "height must be a multiple of 4"),
        ({"spacing": "middle"}, ValueError, "spacing"),
    ],
)
def test_bad_arguments_raise_naming_them(tiny_folder, kwargs, error, message):
    with pytest.raises(error, match=message):
        OnnxTextToImage(tiny_folder).sample("a red circle", **kwargs)


def test_a_folder_without_an_export_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="ldm_onnx.json"):
        OnnxTextToImage(tmp_path)
    (tmp_path / "ldm_onnx.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not an ldm-teach ONNX export"):
        OnnxTextToImage(tmp_path)
