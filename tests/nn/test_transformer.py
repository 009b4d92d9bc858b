"""FeedForward, BasicTransformerBlock, SpatialTransformer (ldm_teach.nn.transformer) against
diffusers' FeedForward / BasicTransformerBlock / Transformer2DModel, plus closed-form facts."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ldm_teach.nn.transformer import (
    GEGLU,
    BasicTransformerBlock,
    FeedForward,
    SpatialTransformer,
    state_dict_from_diffusers,
)

B, M, CONTEXT_DIM, HEADS, HEAD_DIM = 2, 5, 12, 2, 8
DIM = HEADS * HEAD_DIM  # 16


def _randomise(module, seed):
    """Random weights everywhere, including LayerNorm/GroupNorm affines and the zero proj_out,
    so that the comparisons exercise every parameter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    return module.eval()


def test_state_dict_from_diffusers_renames_only_to_out():
    sd = {
        "to_out.0.weight": 1,
        "attn2.to_out.0.bias": 2,
        "transformer_blocks.0.attn1.to_out.0.weight": 3,
        "ff.net.0.proj.weight": 4,
        "proj_out.weight": 5,
    }
    assert state_dict_from_diffusers(sd) == {
        "to_out.weight": 1,
        "attn2.to_out.bias": 2,
        "transformer_blocks.0.attn1.to_out.weight": 3,
        "ff.net.0.proj.weight": 4,
        "proj_out.weight": 5,
    }


# ---- FeedForward ------------------------------------------------------------------------


def test_geglu_closed_form():
    torch.manual_seed(0)
    geglu = GEGLU(4, 3)
    x = torch.randn(2, 5, 4)
    h = geglu.proj(x)  # (2, 5, 6)
    assert torch.allclose(geglu(x), h[..., :3] * F.gelu(h[..., 3:]), atol=1e-7)


@pytest.mark.parametrize("glu", [True, False])
def test_feed_forward_matches_diffusers(glu):
    from diffusers.models.attention import FeedForward as DiffusersFeedForward

    ref = DiffusersFeedForward(DIM, activation_fn="geglu" if glu else "gelu").eval()
    ff = FeedForward(DIM, glu=glu).eval()
    ff.load_state_dict(ref.state_dict(), strict=True)  # same keys: net.0.proj, net.2
    x = torch.randn(B, 7, DIM)
    with torch.no_grad():
        assert torch.allclose(ff(x), ref(x), atol=1e-5, rtol=0)
    assert ff.net[0].proj.out_features == (2 if glu else 1) * 4 * DIM


# ---- BasicTransformerBlock --------------------------------------------------------------


@pytest.mark.parametrize("context_dim", [CONTEXT_DIM, None])
def test_block_matches_diffusers(context_dim):
    from diffusers.models.attention import BasicTransformerBlock as DiffusersBlock

    ref = DiffusersBlock(
        DIM,
        HEADS,
        HEAD_DIM,
        cross_attention_dim=context_dim,
        double_self_attention=context_dim is None,  # LDM's attn2 without context
    )
    ref = _randomise(ref, seed=1)
    block = BasicTransformerBlock(DIM, context_dim, HEADS, HEAD_DIM).eval()
    block.load_state_dict(state_dict_from_diffusers(ref.state_dict()), strict=True)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(B, 7, DIM, generator=g)
    context = torch.randn(B, M, CONTEXT_DIM, generator=g) if context_dim else None
    with torch.no_grad():
        ours = block(x, context)
        theirs = ref(x, encoder_hidden_states=context)
    assert ours.shape == x.shape
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)


def test_block_is_the_three_residual_lines():
    block = _randomise(BasicTransformerBlock(DIM, CONTEXT_DIM, HEADS, HEAD_DIM), seed=3)
    g = torch.Generator().manual_seed(4)
    x, context = torch.randn(B, 7, DIM, generator=g), torch.randn(B, M, CONTEXT_DIM, generator=g)
    with torch.no_grad():
        h = x + block.attn1(block.norm1(x))  # self-attention
        h = h + block.attn2(block.norm2(h), context)
        h = h + block.ff(block.norm3(h))
        assert torch.equal(block(x, context), h)
    assert isinstance(block.norm1, nn.LayerNorm) and block.attn1.context_dim == DIM


def test_block_passes_the_context_mask():
    block = _randomise(BasicTransformerBlock(DIM, CONTEXT_DIM, HEADS, HEAD_DIM), seed=5)
    g = torch.Generator().manual_seed(6)
    x, context = torch.randn(B, 7, DIM, generator=g), torch.randn(B, M, CONTEXT_DIM, generator=g)
    mask = torch.ones(B, M, dtype=torch.bool)
    mask[:, 3:] = False
    with torch.no_grad():
        assert torch.allclose(block(x, context, mask), block(x, context[:, :3]), atol=1e-6)


def test_block_rejects_context_of_wrong_width():
    block = BasicTransformerBlock(DIM, CONTEXT_DIM, HEADS, HEAD_DIM)
    with pytest.raises(ValueError, match=f"context_dim={CONTEXT_DIM}"):
        block(torch.randn(B, 3, DIM), torch.randn(B, M, CONTEXT_DIM + 2))


# ---- SpatialTransformer -----------------------------------------------------------------


@pytest.mark.parametrize("in_channels,depth", [(16, 1), (8, 2)])
def test_spatial_transformer_matches_diffusers(in_channels, depth):
    from diffusers import Transformer2DModel

    ref = Transformer2DModel(
        num_attention_heads=HEADS,
        attention_head_dim=HEAD_DIM,
        in_channels=in_channels,
        num_layers=depth,
        cross_attention_dim=CONTEXT_DIM,
        norm_num_groups=4,
        use_linear_projection=False,
    )
    ref = _randomise(ref, seed=7)
    st = SpatialTransformer(in_channels, HEADS, HEAD_DIM, CONTEXT_DIM, depth, norm_groups=4)
    st.load_state_dict(state_dict_from_diffusers(ref.state_dict()), strict=True)
    st.eval()
    g = torch.Generator().manual_seed(8)
    x = torch.randn(B, in_channels, 3, 4, generator=g)  # H != W catches a transposed reshape
    context = torch.randn(B, M, CONTEXT_DIM, generator=g)
    with torch.no_grad():
        ours = st(x, context)
        theirs = ref(x, encoder_hidden_states=context, return_dict=False)[0]
    assert ours.shape == x.shape
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)


def test_spatial_transformer_is_identity_at_init():
    torch.manual_seed(9)
    st = SpatialTransformer(8, HEADS, HEAD_DIM, CONTEXT_DIM, norm_groups=4)
    assert not st.proj_out.weight.any() and not st.proj_out.bias.any()
    x = torch.randn(B, 8, 3, 3)
    assert torch.equal(st(x, torch.randn(B, M, CONTEXT_DIM)), x)


def test_spatial_transformer_uses_conv_projections():
    st = SpatialTransformer(8, HEADS, HEAD_DIM, CONTEXT_DIM, norm_groups=4)
    assert isinstance(st.proj_in, nn.Conv2d) and st.proj_in.kernel_size == (1, 1)
    assert st.proj_in.out_channels == HEADS * HEAD_DIM
    assert st.proj_out.out_channels == 8
    assert isinstance(st.norm, nn.GroupNorm) and st.norm.eps == 1e-6


def test_spatial_transformer_output_depends_on_context():
    st = _randomise(SpatialTransformer(8, HEADS, HEAD_DIM, CONTEXT_DIM, norm_groups=4), seed=10)
    x = torch.randn(1, 8, 2, 2)
    c1, c2 = torch.randn(1, M, CONTEXT_DIM), torch.randn(1, M, CONTEXT_DIM)
    with torch.no_grad():
        assert not torch.allclose(st(x, c1), st(x, c2), atol=1e-4)


def test_spatial_transformer_bad_channels_raise():
    with pytest.raises(ValueError, match=r"in_channels \(24\).*norm_groups \(32\)"):
        SpatialTransformer(24, HEADS, HEAD_DIM, CONTEXT_DIM, norm_groups=32)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_heads=0), "num_heads"),
        (dict(head_dim=-1), "head_dim"),
        (dict(depth=0), "depth"),
    ],
)
def test_spatial_transformer_bad_sizes_raise(kwargs, match):
    args = dict(in_channels=8, num_heads=2, head_dim=4, context_dim=6, norm_groups=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        SpatialTransformer(**args)


def test_spatial_transformer_wrong_input_raises():
    st = SpatialTransformer(8, HEADS, HEAD_DIM, CONTEXT_DIM, norm_groups=4)
    with pytest.raises(ValueError, match="in_channels=8"):
        st(torch.randn(B, 4, 2, 2), torch.randn(B, M, CONTEXT_DIM))
    with pytest.raises(ValueError, match=f"context_dim={CONTEXT_DIM}"):
        st(torch.randn(B, 8, 2, 2), torch.randn(B, M, CONTEXT_DIM - 1))


def test_feed_forward_bad_sizes_raise():
    with pytest.raises(ValueError, match="mult"):
        FeedForward(8, mult=0)
