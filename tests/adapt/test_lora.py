"""LoRA through peft on the shipped shapes-t2i UNet (ldm_teach.adapt.lora)."""

import json

import pytest
import torch

from ldm_teach.adapt import (
    add_lora,
    add_placeholder_token,
    encode_examples,
    fixed_seed_loss,
    load_lora,
    merge_lora,
    parameter_counts,
    save_lora,
    train_lora,
    unmerge_lora,
)
from ldm_teach.models import UNet
from ldm_teach.pretrained.text_registry import load_text_to_image
from tests.adapt.helpers import unet_output


def test_adapters_start_as_the_identity_and_alone_are_trainable(model):
    before = unet_output(model)
    unet = add_lora(model.unet, r=4, alpha=4)
    assert unet is model.unet and type(unet) is UNet  # the forward signature is the UNet's
    assert torch.equal(unet_output(model), before)  # B = 0
    trainable = [n for n, p in unet.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    assert not any(p.requires_grad for p in model.text_encoder.parameters())
    n_train, n_total = parameter_counts(unet)
    # r (d_in + d_out) per adapted projection: 31,488 on the shapes UNet
    expected = sum(
        4 * (m.in_features + m.out_features)
        for name, m in load_text_to_image("shapes-t2i").unet.named_modules()
        if name.split(".")[-1] in ("to_q", "to_k", "to_v", "to_out")
    )
    assert n_train == expected == 31_488
    print(f"LoRA r=4 trainable {n_train:,} of {n_total:,} ({100 * n_train / n_total:.2f}%)")


def test_include_convs_adds_conv_adapters(model):
    unet = add_lora(model.unet, r=2, alpha=2, target_modules=("to_q",), include_convs=True)
    names = [n for n, p in unet.named_parameters() if p.requires_grad]
    assert any("conv1.lora_A" in n for n in names) and any("proj_in.lora_A" in n for n in names)
    assert not any("to_k" in n for n in names)


def _trained(model, stars, steps=3):
    images, captions = stars
    add_placeholder_token(model, "star", initializer_token="triangle")
    add_lora(model.unet)
    g = torch.Generator().manual_seed(0)
    return train_lora(model, images, captions, steps=steps, lr=1e-2, generator=g)


def test_training_moves_only_the_adapters_and_lowers_the_loss(model, stars):
    images, captions = stars
    base = {k: v.clone() for k, v in model.unet.state_dict().items()}
    add_placeholder_token(model, "star", initializer_token="triangle")
    add_lora(model.unet)
    z0, ids = encode_examples(model, images, captions)
    start = fixed_seed_loss(model, z0, ids, draws=8)
    g = torch.Generator().manual_seed(0)
    losses = train_lora(model, images, captions, steps=30, lr=1e-2, generator=g)
    end = fixed_seed_loss(model, z0, ids, draws=8)
    print(f"LoRA on 8 stars: fixed-seed loss {start:.4f} -> {end:.4f}")
    assert len(losses) == 30 and end < start
    after = model.unet.state_dict()
    for key, value in base.items():  # peft keeps the base weights as base_layer.weight
        key = (
            key
            if key in after
            else key.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")
        )
        assert torch.equal(after[key], value), key


def test_save_load_round_trip_reproduces_the_outputs(model, stars, tmp_path):
    _trained(model, stars)
    folder = save_lora(model.unet, tmp_path / "lora")
    weights = folder / "adapter_model.safetensors"
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["lora_alpha"] == 4
    print(f"adapter file {weights.stat().st_size:,} bytes")
    assert weights.stat().st_size < 4 * 31_488 + 20_000  # float32 tensors and a header
    with pytest.raises(FileExistsError):
        save_lora(model.unet, folder)
    save_lora(model.unet, folder, overwrite=True)

    fresh = load_text_to_image("shapes-t2i")
    add_placeholder_token(fresh, "star", initializer_token="triangle")
    load_lora(fresh.unet, folder)
    assert torch.equal(unet_output(fresh), unet_output(model))
    assert not torch.equal(unet_output(fresh), unet_output(load_text_to_image("shapes-t2i")))


def test_merge_equals_unmerged(model, stars):
    _trained(model, stars)
    unmerged = unet_output(model)
    merge_lora(model.unet)
    merged = unet_output(model)
    unmerge_lora(model.unet)
    again = unet_output(model)
    d_merge = (merged - unmerged).abs().max().item()
    d_back = (again - unmerged).abs().max().item()
    print(f"merged vs unmerged max |Δ| {d_merge:.2e}; after unmerge {d_back:.2e}")
    assert d_merge < 1e-5 and d_back < 1e-5
    merge_lora(model.unet)
    with pytest.raises(ValueError, match="merged"):
        train_lora(model, *stars, steps=1)


def test_bad_arguments(model, tmp_path):
    with pytest.raises(ValueError, match="r must"):
        add_lora(model.unet, r=0)
    with pytest.raises(ValueError, match="alpha"):
        add_lora(model.unet, alpha=-1)
    with pytest.raises(ValueError, match="target_modules"):
        add_lora(model.unet, target_modules="to_q")
    with pytest.raises(ValueError, match="match no layer"):
        add_lora(model.unet, target_modules=("nothing",))
    with pytest.raises(ValueError, match="no LoRA"):
        save_lora(model.unet, tmp_path)
    with pytest.raises(ValueError, match="no LoRA"):
        merge_lora(model.unet)
    add_lora(model.unet)
    with pytest.raises(ValueError, match="already"):
        add_lora(model.unet)
