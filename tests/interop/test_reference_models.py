"""The published Stable Diffusion networks built from their shipped configs, on meta
(ldm_teach.interop.reference_models): the well-known parameter counts, the config fields
10.4.1 quotes, the shapes, and no memory taken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ldm_teach.interop import (
    REFERENCE_MODELS,
    build_reference,
    reference_config,
    reference_evaluations,
    reference_shapes,
)

ROOT = Path(__file__).resolve().parents[2]

# the figures every model card, paper and blog post quotes (diffusers' num_parameters())
PARAMETERS = {
    ("sd-1.5", "unet"): 859_520_964,
    ("sd-1.5", "vae"): 83_653_863,
    ("sd-1.5", "text_encoder"): 123_060_480,  # CLIP ViT-L/14, text tower
    ("sd-2.1", "unet"): 865_910_724,
    ("sd-2.1", "vae"): 83_653_863,
    ("sd-2.1", "text_encoder"): 340_387_840,  # OpenCLIP ViT-H/14, text tower (23 layers)
    ("sdxl", "unet"): 2_567_463_684,
    ("sdxl", "vae"): 83_653_863,
    ("sdxl", "text_encoder"): 123_060_480,
    ("sdxl", "text_encoder_2"): 694_659_840,  # OpenCLIP ViT-bigG/14, with projection
}


def _n(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(("model", "component"), sorted(PARAMETERS))
def test_parameter_counts_are_the_published_ones(model, component):
    assert _n(build_reference(model, component)) == PARAMETERS[model, component]


def test_every_component_has_a_figure():
    listed = {(m, c) for m, info in REFERENCE_MODELS.items() for c in info["components"]}
    assert listed == set(PARAMETERS)


def test_the_autoencoder_splits_into_encoder_decoder_and_the_two_1x1_convolutions():
    vae = build_reference("sd-1.5", "vae")
    assert _n(vae.encoder) == 34_163_592
    assert _n(vae.quant_conv) == 72  # 8 -> 8 moments, 1x1
    assert _n(vae.decoder) == 49_490_179
    assert _n(vae.post_quant_conv) == 20  # 4 -> 4, 1x1
    assert 34_163_592 + 72 + 49_490_179 + 20 == PARAMETERS["sd-1.5", "vae"]


def test_sd15_unet_has_16_cross_attention_layers_reading_768_wide_tokens():
    unet = build_reference("sd-1.5", "unet")
    cross = [m for name, m in unet.named_modules() if name.endswith("attn2")]
    assert len(cross) == 16  # 6 down, 1 middle, 9 up
    assert all(m.is_cross_attention and m.to_k.in_features == 768 for m in cross)
    assert sum(_n(m) for m in cross) == 43_962_560


def test_all_parameters_of_sdxl_are_on_meta():
    unet = build_reference("sdxl", "unet")
    assert all(p.is_meta for p in unet.parameters())
    assert all(b.is_meta for b in unet.buffers())
    assert not unet.training


def test_build_on_cpu_gives_real_weights():
    vae = build_reference("sd-1.5", "vae", device="cpu")
    assert vae.decoder.conv_in.weight.device.type == "cpu"
    assert torch.isfinite(vae.decoder.conv_in.weight).all()


def test_the_fields_the_chapter_quotes():
    sd21 = reference_config("sd-2.1", "unet")
    assert sd21["attention_head_dim"] == [5, 10, 20, 20]
    assert sd21["use_linear_projection"] is True and sd21["cross_attention_dim"] == 1024
    h = reference_config("sd-2.1", "text_encoder")
    assert (h["hidden_size"], h["num_hidden_layers"], h["num_attention_heads"]) == (1024, 23, 16)
    assert (h["intermediate_size"], h["projection_dim"], h["hidden_act"]) == (4096, 512, "gelu")
    xl = reference_config("sdxl", "unet")
    assert xl["transformer_layers_per_block"] == [1, 2, 10]
    assert xl["addition_embed_type"] == "text_time" and xl["addition_time_embed_dim"] == 256
    assert xl["projection_class_embeddings_input_dim"] == 2816 == 1280 + 6 * 256
    assert xl["cross_attention_dim"] == 2048 == 768 + 1280
    g = reference_config("sdxl", "text_encoder_2")
    assert (g["hidden_size"], g["num_hidden_layers"], g["num_attention_heads"]) == (1280, 32, 20)
    assert (g["intermediate_size"], g["projection_dim"], g["hidden_act"]) == (5120, 1280, "gelu")
    assert reference_config("sd-1.5", "text_encoder")["hidden_act"] == "quick_gelu"


@pytest.mark.parametrize(("model", "component"), sorted(PARAMETERS))
def test_configs_are_the_published_files_with_the_bookkeeping_stripped(model, component):
    raw = reference_config(model, component, raw=True)
    clean = reference_config(model, component)
    assert not any(k.startswith("_") for k in clean)
    assert set(clean) < set(raw)
    if component in ("unet", "vae"):
        assert raw["_class_name"] == (
            "UNet2DConditionModel" if component == "unet" else "AutoencoderKL"
        )
    else:
        assert raw["architectures"] == [type(build_reference(model, component)).__name__]
    clean["sample_size"] = -1  # a copy: the shipped config is unchanged
    assert reference_config(model, component).get("sample_size") != -1


def test_configs_ship_as_package_data():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"ldm_teach.interop" = ["configs/*/*.json"]' in pyproject
    files = sorted((ROOT / "ldm_teach" / "interop" / "configs").glob("*/*.json"))
    assert len(files) == len(PARAMETERS)
    for f in files:
        assert isinstance(json.loads(f.read_text()), dict)


@pytest.mark.parametrize(
    ("model", "image", "latent", "context"),
    [
        ("sd-1.5", 512, (4, 64, 64), (77, 768)),
        ("sd-2.1", 768, (4, 96, 96), (77, 1024)),
        ("sdxl", 1024, (4, 128, 128), (77, 2048)),
    ],
)
def test_shapes_follow_from_the_configs(model, image, latent, context):
    shapes = reference_shapes(model)
    assert shapes["image_size"] == image and shapes["downsample_factor"] == 8
    assert shapes["latent_shape"] == latent and shapes["context_shape"] == context
    assert image // shapes["downsample_factor"] == latent[1]


def test_sdxl_added_conditioning_and_latent_scale():
    shapes = reference_shapes("sdxl")
    assert shapes["added_cond_shapes"] == {"text_embeds": (1280,), "time_ids": (6,)}
    assert shapes["scaling_factor"] == 0.13025
    assert reference_shapes("sd-1.5")["scaling_factor"] == 0.18215
    assert "added_cond_shapes" not in reference_shapes("sd-2.1")


def test_evaluations_run_on_meta_and_give_the_expected_output_shapes():
    ev = reference_evaluations("sdxl")
    assert set(ev) == {"unet", "vae", "text_encoder", "text_encoder_2"}
    unet = ev["unet"]
    out = unet["call"](*unet["args"], **unet["kwargs"]).sample
    assert out.shape == (1, 4, 128, 128) and out.is_meta
    vae = ev["vae"]
    assert vae["call"](*vae["args"]).sample.shape == (1, 3, 1024, 1024)
    te2 = ev["text_encoder_2"]
    assert te2["call"](*te2["args"]).text_embeds.shape == (1, 1280)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"model must be one of \['sd-1.5', 'sd-2.1', 'sdxl'\]"):
        reference_config("sd-3", "unet")
    with pytest.raises(ValueError, match="component must be one of .*'text_encoder'"):
        build_reference("sd-1.5", "text_encoder_2")
    with pytest.raises(ValueError, match="component"):
        reference_config("sdxl", "tokenizer")
    with pytest.raises(ValueError, match="device"):
        build_reference("sd-1.5", "vae", device="gpu0")
    with pytest.raises(ValueError, match="model"):
        reference_shapes("sd2.1")
    with pytest.raises(ValueError, match="batch_size"):
        reference_evaluations("sd-1.5", batch_size=0)
