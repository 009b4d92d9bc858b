"""A randomly initialised diffusers AutoencoderKL, saved and loaded into ours, computes the
same encode/decode (to 1e-5)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from ldm_teach.autoencoders.diffusers_interop import (
    config_from_diffusers,
    diffusers_key_to_ours,
    load_diffusers_state_dict,
)
from ldm_teach.autoencoders.kl_vae import AutoencoderKL

diffusers = pytest.importorskip("diffusers")


@pytest.mark.parametrize("widths, layers", [((32, 64), 1), ((16, 32, 32), 2)])
def test_diffusers_autoencoder_kl_round_trip(tmp_path, widths, layers):
    torch.manual_seed(0)
    ref = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(widths),
        up_block_types=("UpDecoderBlock2D",) * len(widths),
        block_out_channels=widths, layers_per_block=layers, latent_channels=4,
        norm_num_groups=8, sample_size=16,
    ).eval()
    path = tmp_path / "vae.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    ours = AutoencoderKL(config_from_diffusers(dict(ref.config)))
    load_diffusers_state_dict(ours, load_file(str(path)))
    ours.eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        ref_post = ref.encode(x).latent_dist
        our_post = ours.encode(x)
        assert torch.allclose(our_post.mean, ref_post.mean, atol=1e-5)
        assert torch.allclose(our_post.logvar, ref_post.logvar, atol=1e-5)
        z = ref_post.mean
        assert torch.allclose(ours.decode(z), ref.decode(z).sample, atol=1e-5)


def test_key_map_examples():
    assert diffusers_key_to_ours("encoder.down_blocks.1.resnets.0.conv1.weight") == (
        "encoder.down.1.blocks.0.conv1.weight")
    assert diffusers_key_to_ours("decoder.mid_block.attentions.0.to_out.0.bias") == (
        "decoder.mid_attn.to_out.bias")
    assert diffusers_key_to_ours("quant_conv.weight") == "quant_conv.weight"


def test_unsupported_blocks_and_mismatched_state_dicts_fail_clearly():
    with pytest.raises(ValueError, match="DownEncoderBlock2D"):
        config_from_diffusers({"down_block_types": ["AttnDownEncoderBlock2D"],
                               "up_block_types": ["UpDecoderBlock2D"],
                               "block_out_channels": [32]})
    cfg = config_from_diffusers({"down_block_types": ["DownEncoderBlock2D"],
                                 "up_block_types": ["UpDecoderBlock2D"],
                                 "block_out_channels": [32], "norm_num_groups": 8})
    with pytest.raises(KeyError, match="missing"):
        load_diffusers_state_dict(AutoencoderKL(cfg), {})
