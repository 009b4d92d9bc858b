"""group_norm and ResnetBlock (ldm_teach.nn.norm, ldm_teach.nn.resnet)."""

import pytest
import torch
from torch import nn

from ldm_teach.nn.norm import group_norm
from ldm_teach.nn.resnet import ResnetBlock

# ---- group_norm -------------------------------------------------------------------------


def test_group_norm_builds_groupnorm_with_ldm_eps():
    gn = group_norm(16, 4)
    assert isinstance(gn, nn.GroupNorm)
    assert (gn.num_groups, gn.num_channels, gn.eps, gn.affine) == (4, 16, 1e-6, True)


def test_group_norm_normalises_each_group():
    gn = group_norm(8, 2)
    x = torch.randn(3, 8, 4, 4) * 5 + 2
    y = gn(x).view(3, 2, -1)  # (B, G, C/G * H * W)
    assert torch.allclose(y.mean(-1), torch.zeros(3, 2), atol=1e-5)
    assert torch.allclose(y.var(-1, unbiased=False), torch.ones(3, 2), atol=1e-4)


@pytest.mark.parametrize("channels,groups", [(24, 32), (30, 8), (0, 8), (16, 0), (16, -4)])
def test_group_norm_bad_sizes_raise_naming_norm_groups(channels, groups):
    with pytest.raises(ValueError, match="norm_groups"):
        group_norm(channels, groups)


# ---- ResnetBlock ------------------------------------------------------------------------


def test_resnet_shapes_and_shortcut():
    same = ResnetBlock(16, norm_groups=8)
    wider = ResnetBlock(16, 32, norm_groups=8)
    assert same.conv_shortcut is None and same.time_emb_proj is None
    assert isinstance(wider.conv_shortcut, nn.Conv2d) and wider.conv_shortcut.kernel_size == (1, 1)
    x = torch.randn(2, 16, 5, 7)
    assert same(x).shape == (2, 16, 5, 7)
    assert wider(x).shape == (2, 32, 5, 7)


def test_resnet_with_zero_conv2_is_the_shortcut():
    torch.manual_seed(0)
    same, wider = ResnetBlock(16, norm_groups=8), ResnetBlock(16, 32, 8, norm_groups=8)
    for block in (same, wider):
        nn.init.zeros_(block.conv2.weight)
        nn.init.zeros_(block.conv2.bias)
    x, emb = torch.randn(2, 16, 4, 4), torch.randn(2, 8)
    assert torch.equal(same(x), x)
    assert torch.allclose(wider(x, emb), wider.conv_shortcut(x), atol=1e-6)


def test_resnet_embedding_is_added_after_conv1():
    torch.manual_seed(1)
    block = ResnetBlock(8, 8, emb_channels=6, norm_groups=4).eval()
    x, emb = torch.randn(2, 8, 3, 3), torch.randn(2, 6)
    out = block(x, emb)
    # by hand: h = conv1(silu(gn1 x)) + Linear(silu(emb)); out = x + conv2(silu(gn2 h))
    silu = nn.functional.silu
    h = block.conv1(silu(block.norm1(x))) + block.time_emb_proj(silu(emb))[:, :, None, None]
    ref = x + block.conv2(silu(block.norm2(h)))
    assert torch.allclose(out, ref, atol=1e-6)
    assert not torch.allclose(out, block(x, emb + 1.0))  # the embedding matters


def test_resnet_with_emb_channels_requires_emb():
    block = ResnetBlock(8, 8, emb_channels=4, norm_groups=4)
    with pytest.raises(ValueError, match="emb"):
        block(torch.randn(1, 8, 2, 2))


@pytest.mark.parametrize("cin,cout", [(24, 32), (32, 24)])
def test_resnet_widths_not_divisible_by_norm_groups_raise(cin, cout):
    with pytest.raises(ValueError, match="norm_groups"):
        ResnetBlock(cin, cout, norm_groups=32)


@pytest.mark.parametrize("cin,cout,temb", [(16, 16, None), (16, 32, 12), (32, 16, 12)])
def test_resnet_matches_diffusers_resnetblock2d_key_by_key(cin, cout, temb):
    resnet = pytest.importorskip("diffusers.models.resnet")
    torch.manual_seed(0)
    ours = ResnetBlock(cin, cout, temb, norm_groups=8).eval()
    ref = resnet.ResnetBlock2D(
        in_channels=cin, out_channels=cout, temb_channels=temb, groups=8, eps=1e-6
    ).eval()
    with torch.no_grad():  # non-trivial norms
        for name, p in ours.named_parameters():
            if "norm" in name:
                p.normal_(1.0 if name.endswith("weight") else 0.0, 0.3)
    ref.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, cin, 4, 4)
    emb = torch.randn(2, temb) if temb else None
    assert torch.allclose(ours(x, emb), ref(x, emb), atol=1e-5)
