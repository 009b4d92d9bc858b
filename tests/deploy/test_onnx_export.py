"""export_onnx writes three graphs with dynamic axes and the sampler's JSON, refuses to
overwrite, and check_onnx finds ONNX Runtime within float32 rounding of PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ldm_teach.deploy import check_onnx, export_onnx, load_session
from tests.pipelines.conftest import tiny_model

PARTS = ("text_encoder", "unet", "decoder")


def test_export_writes_three_graphs_with_dynamic_axes(tiny_folder):
    dims = {
        name: [list(i.shape) for i in load_session(tiny_folder / f"{name}.onnx").get_inputs()]
        for name in PARTS
    }
    assert dims["text_encoder"] == [["batch", "sequence"]]
    assert dims["unet"] == [["batch", 4, "height", "width"], ["batch"], ["batch", "sequence", 16]]
    assert dims["decoder"] == [["batch", 4, "height", "width"]]


def test_the_json_holds_what_the_sampler_needs(tiny, tiny_folder):
    config = json.loads((tiny_folder / "ldm_onnx.json").read_text())
    ac = np.asarray(config["schedule"]["alphas_cumprod"])
    assert np.array_equal(ac, tiny.schedule.alphas_cumprod.numpy())  # exact round trip
    assert config["prediction_type"] == "epsilon"
    assert config["schedule"]["set_alpha_to_one"] is True
    assert config["schedule"]["timestep_spacing"] == "leading"
    assert config["sampling_defaults"] == {
        "guidance_scale": 3.0,
        "guidance_rescale": 0.0,
        "num_inference_steps": 25,
    }
    assert config["latent_shape"] == [4, 8, 8]
    assert config["image_size"] == 16 and config["downsample_factor"] == 2
    assert config["scale_factor"] == 1.0
    tok = config["tokenizer"]
    assert tok["words"] == tiny.tokenizer.to_dict()["words"]
    assert (tok["start_token_id"], tok["end_token_id"]) == (23, 24)


def test_every_graph_and_the_sampler_agree_with_pytorch(tiny, tiny_folder):
    gaps = check_onnx(tiny, tiny_folder, num_inference_steps=10)
    assert set(gaps) == {*PARTS, "sampler"}
    assert all(gap < 1e-4 for gap in gaps.values()), gaps


def test_a_v_prediction_model_samples_the_same(tmp_path):
    model = tiny_model("v_prediction", seed=1).eval()
    export_onnx(model, tmp_path, opset=18)
    assert json.loads((tmp_path / "ldm_onnx.json").read_text())["opset"] == 18
    assert check_onnx(model, tmp_path, num_inference_steps=8)["sampler"] < 1e-4


def test_existing_files_are_never_overwritten_silently(tiny, tmp_path):
    (tmp_path / "unet.onnx").write_text("mine")
    with pytest.raises(FileExistsError, match=str(tmp_path)):
        export_onnx(tiny, tmp_path)
    assert (tmp_path / "unet.onnx").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unet.onnx"]  # nothing else written
    export_onnx(tiny, tmp_path, overwrite=True)
    assert (tmp_path / "unet.onnx").stat().st_size > 1000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files


def test_the_callers_model_is_left_as_it_was(tiny, tmp_path):
    tiny.train()
    try:
        export_onnx(tiny, tmp_path / "new" / "folder")  # parents are created
        assert tiny.training
    finally:
        tiny.eval()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model": torch.nn.Linear(2, 2)}, "model must be a TextToImage"),
        ({"opset": 99}, "opset must be an int in"),
        ({"opset": 12}, "opset must be an int in"),
        ({"overwrite": "yes"}, "overwrite"),
    ],
)
def test_bad_arguments_raise_naming_them(tiny, tmp_path, kwargs, message):
    args = {"model": tiny, "folder": tmp_path, **kwargs}
    with pytest.raises(ValueError, match=message):
        export_onnx(args.pop("model"), args.pop("folder"), **args)
