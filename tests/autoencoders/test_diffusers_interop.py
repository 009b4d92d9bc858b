"""A randomly initialised diffusers AutoencoderKL, saved and loaded into ours, computes the
same encode/decode (to 1e-5)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from ldm_teach.autoencoders.diffusers_interop import (
    config_from_diffusers,
    diffusers_key_to_ours,
    from_diffusers,
    load_diffusers_state_dict,
)
from ldm_teach.autoencoders.kl_vae import AutoencoderKL

diffusers = pytest.importorskip("diffusers")


@pytest.mark.parametrize("widths, layers", [((32, 64), 1), ((16, 32, 32), 2)])
def test_diffusers_autoencoder_kl_round_trip(tmp_path, widths, layers):
    torch.manual_seed(0)
    ref = diffusers.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(widths),
        up_block_types=("UpDecoderBlock2D",) * len(widths),
        block_out_channels=widths,
        layers_per_block=layers,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=16,
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


def _tiny_diffusers_vae(**kw):
    torch.manual_seed(0)
    return diffusers.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(16, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=16,
        **kw,
    ).eval()


def test_from_diffusers_reads_scaling_factor_and_force_upcast():
    ours = from_diffusers(_tiny_diffusers_vae(scaling_factor=0.5, force_upcast=True))
    assert ours.scaling_factor == 0.5 and ours.force_upcast is True
    ours = from_diffusers(_tiny_diffusers_vae(force_upcast=False))
    assert ours.scaling_factor == pytest.approx(0.18215)  # diffusers' default
    assert ours.force_upcast is False


def test_from_diffusers_force_upcast_decodes_float16_without_overflow():
    ref = _tiny_diffusers_vae(scaling_factor=0.5, force_upcast=True)
    with torch.no_grad():  # make the float16 activations overflow (> 65504)
        ref.post_quant_conv.weight.fill_(2e4)
    ours = from_diffusers(ref).eval()
    z = torch.ones(1, 4, 4, 4)
    with torch.no_grad():
        expected = ref.decode(z).sample  # diffusers in float32
        half = ours.half()
        out = half.decode(z.half())  # float32 compute on the float16 weights
        assert out.dtype == torch.float32 and torch.isfinite(out).all()
        assert torch.allclose(out, expected, rtol=1e-2, atol=1e-2)
        half.force_upcast = False
        with pytest.raises(FloatingPointError, match="force_upcast"):
            half.decode(z.half())


def test_key_map_examples():
    assert diffusers_key_to_ours("encoder.down_blocks.1.resnets.0.conv1.weight") == (
        "encoder.down.1.blocks.0.conv1.weight"
    )
    assert diffusers_key_to_ours("decoder.mid_block.attentions.0.to_out.0.bias") == (
        "decoder.mid_attn.to_out.bias"
    )
    assert diffusers_key_to_ours("quant_conv.weight") == "quant_conv.weight"


def test_unsupported_blocks_and_mismatched_state_dicts_fail_clearly():
    with pytest.raises(ValueError, match="DownEncoderBlock2D"):
        config_from_diffusers(
            {
                "down_block_types": ["AttnDownEncoderBlock2D"],
                "up_block_types": ["UpDecoderBlock2D"],
                "block_out_channels": [32],
            }
        )
    cfg = config_from_diffusers(
        {
            "down_block_types": ["DownEncoderBlock2D"],
            "up_block_types": ["UpDecoderBlock2D"],
            "block_out_channels": [32],
            "norm_num_groups": 8,
        }
    )
    with pytest.raises(KeyError, match="missing"):
        load_diffusers_state_dict(AutoencoderKL(cfg), {})


def test_config_with_another_activation_or_no_widths_is_refused():
    base = {
        "down_block_types": ["DownEncoderBlock2D"],
        "up_block_types": ["UpDecoderBlock2D"],
        "block_out_channels": [16],
        "norm_num_groups": 8,
    }
    with pytest.raises(ValueError, match="act_fn='silu'"):
        config_from_diffusers({**base, "act_fn": "relu"})
    with pytest.raises(ValueError, match="block_out_channels"):
        config_from_diffusers({})
    assert config_from_diffusers({**base, "act_fn": "silu"}).base_channels == 16
