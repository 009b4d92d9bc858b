"""The course UNet holds diffusers' UNet2DConditionModel (SD 1.x / 2.x layouts) key by key
and computes the same function to 1e-5."""

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from ldm_teach.interop import unet_config_from_diffusers, unet_from_diffusers  # noqa: E402

# tiny versions of the SD 1.5 and SD 2.1 layouts: three cross-attention levels and a plain
# deepest level, 2 ResNet blocks per level, a cross-attention middle block
SD15_TINY = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    block_out_channels=(32, 64, 64),
    layers_per_block=2,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=24,
    attention_head_dim=4,
    norm_num_groups=8,
)
SD21_TINY = dict(
    SD15_TINY,
    attention_head_dim=(2, 4, 4),
    use_linear_projection=True,
    transformer_layers_per_block=(1, 2, 1),
    upcast_attention=True,
)


def _pair(config, seed=0):
    torch.manual_seed(seed)
    ref = diffusers.UNet2DConditionModel(**config).eval()
    with torch.no_grad():  # proj_out starts at zero in the course UNet: randomise everything
        for p in ref.parameters():
            p.normal_(0.0, 0.05)
    ours = unet_from_diffusers(dict(ref.config), ref.state_dict())
    return ref, ours


@pytest.mark.parametrize("config", [SD15_TINY, SD21_TINY], ids=["sd15-layout", "sd21-layout"])
def test_forward_matches_diffusers(config):
    ref, ours = _pair(config)
    assert sum(p.numel() for p in ref.parameters()) == sum(p.numel() for p in ours.parameters())
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 16, 16, generator=g)
    t = torch.tensor([999, 3])
    ctx = torch.randn(2, 7, 24, generator=g)
    with torch.no_grad():
        expected = ref(x, t, encoder_hidden_states=ctx).sample
        got = ours(x, t, context=ctx)
    assert expected.abs().max() > 0.1  # a non-trivial output
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_config_reads_the_layout():
    cfg = unet_config_from_diffusers(SD21_TINY)
    assert cfg.channel_mult == (1, 2, 2) and cfg.condition_levels == (0, 1)
    assert cfg.num_heads == (2, 4, 4) and cfg.transformer_depth == (1, 2, 1)
    assert cfg.linear_projection and not cfg.mid_attention and cfg.conditions_mid
    assert cfg.norm_eps == 1e-5 and cfg.context_dim == 24


@pytest.mark.parametrize(
    "change, word",
    [
        ({"addition_embed_type": "text_time"}, "addition_embed_type"),
        ({"class_embed_type": "timestep"}, "class_embed_type"),
        ({"flip_sin_to_cos": False}, "flip_sin_to_cos"),
        ({"down_block_types": ("SimpleCrossAttnDownBlock2D",) * 3}, "block types"),
        ({"up_block_types": ("UpBlock2D",) * 3}, "mirror"),
        ({"block_out_channels": (32, 48, 64)}, "multiples"),
    ],
)
def test_unsupported_configs_are_named(change, word):
    with pytest.raises(ValueError, match=word):
        unet_config_from_diffusers({**SD15_TINY, **change})


def test_weights_of_another_config_are_refused():
    ref, _ = _pair(SD15_TINY)
    with pytest.raises(ValueError, match="missing"):
        unet_from_diffusers(SD21_TINY, ref.state_dict())


@pytest.mark.parametrize("model, expected", [("sd-1.5", 859_520_964), ("sd-2.1", 865_910_724)])
def test_the_real_configs_build_the_real_layout(model, expected):
    """The course UNet built from SD's own unet/config.json (on the meta device: no memory)
    has exactly the parameters of diffusers' UNet2DConditionModel, tensor by tensor."""
    from ldm_teach.interop import build_reference, reference_config, unet_state_dict_from_diffusers
    from ldm_teach.models import UNet

    with torch.device("meta"):
        ours = UNet(unet_config_from_diffusers(reference_config(model, "unet")))
    ref = build_reference(model, "unet")
    shapes = {k: v.shape for k, v in ours.state_dict().items()}
    mapped = {k: v.shape for k, v in unet_state_dict_from_diffusers(ref.state_dict()).items()}
    assert shapes == mapped
    assert sum(p.numel() for p in ours.parameters()) == expected


def test_sdxl_is_refused_by_name():
    from ldm_teach.interop import reference_config

    with pytest.raises(ValueError, match="addition_embed_type"):
        unet_config_from_diffusers(reference_config("sdxl", "unet"))
