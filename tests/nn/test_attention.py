"""Scaled dot-product attention and SelfAttention2d (ldm_teach.nn.attention)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ldm_teach.nn.attention import SelfAttention2d, attention


def test_attention_matches_torch_sdpa():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 5, 8, generator=g)
    k = torch.randn(2, 3, 7, 8, generator=g)  # M != N: cross-attention shapes
    v = torch.randn(2, 3, 7, 8, generator=g)
    out = attention(q, k, v)
    assert out.shape == (2, 3, 5, 8)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-6, rtol=0)


def test_attention_with_equal_keys_averages_values():
    # all logits equal -> uniform weights -> every query gets the mean of the values
    g = torch.Generator().manual_seed(1)
    q = torch.randn(1, 1, 4, 6, generator=g)
    k = torch.ones(1, 1, 5, 6)
    v = torch.randn(1, 1, 5, 6, generator=g)
    out = attention(q, k, v)
    assert torch.allclose(out, v.mean(dim=2, keepdim=True).expand_as(out), atol=1e-6)


def test_attention_scale_is_one_over_sqrt_d():
    # one query, two keys: weight of key 0 is sigmoid((q.k0 - q.k1) / sqrt(d))
    d = 16
    q = torch.zeros(1, 1, 1, d)
    q[..., 0] = 2.0
    k = torch.zeros(1, 1, 2, d)
    k[..., 0, 0] = 1.0  # q.k0 = 2, q.k1 = 0
    v = torch.tensor([[[[1.0] + [0.0] * (d - 1), [0.0] * d]]])
    w0 = torch.sigmoid(torch.tensor(2.0 / d**0.5))
    assert attention(q, k, v)[0, 0, 0, 0].item() == pytest.approx(w0.item(), abs=1e-6)


def _layer(channels=16, heads=2, groups=8, seed=0):
    torch.manual_seed(seed)
    layer = SelfAttention2d(channels, heads, groups)
    with torch.no_grad():  # non-trivial GroupNorm affine parameters
        layer.group_norm.weight.normal_(1.0, 0.2)
        layer.group_norm.bias.normal_(0.0, 0.2)
    return layer.eval()


def test_self_attention_keeps_shape():
    x = torch.randn(2, 16, 3, 5)
    assert _layer()(x).shape == x.shape


def test_self_attention_is_pixel_permutation_equivariant():
    layer = _layer()
    B, C, H, W = 2, 16, 4, 3
    x = torch.randn(B, C, H, W, generator=torch.Generator().manual_seed(2))
    perm = torch.randperm(H * W, generator=torch.Generator().manual_seed(3))

    def permute(t):
        return t.reshape(B, C, H * W)[:, :, perm].reshape(B, C, H, W)

    assert torch.allclose(layer(permute(x)), permute(layer(x)), atol=1e-5)


@pytest.mark.parametrize("heads", [1, 2, 4])
def test_self_attention_matches_torch_multihead_attention(heads):
    C = 16
    layer = _layer(C, heads, 4, seed=heads)
    mha = nn.MultiheadAttention(C, heads, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(
            torch.cat([layer.to_q.weight, layer.to_k.weight, layer.to_v.weight])
        )
        mha.in_proj_bias.copy_(torch.cat([layer.to_q.bias, layer.to_k.bias, layer.to_v.bias]))
        mha.out_proj.weight.copy_(layer.to_out.weight)
        mha.out_proj.bias.copy_(layer.to_out.bias)
    mha.eval()
    x = torch.randn(2, C, 3, 4, generator=torch.Generator().manual_seed(4))
    tokens = layer.group_norm(x).flatten(2).transpose(1, 2)  # (B, N, C)
    ref, _ = mha(tokens, tokens, tokens, need_weights=False)
    ref = x + ref.transpose(1, 2).reshape_as(x)
    assert torch.allclose(layer(x), ref, atol=1e-5)


def test_zero_output_projection_gives_identity():
    layer = _layer()
    with torch.no_grad():
        layer.to_out.weight.zero_()
        layer.to_out.bias.zero_()
    x = torch.randn(1, 16, 2, 2)
    assert torch.equal(layer(x), x)


def test_batch_items_are_independent():
    layer = _layer()
    x = torch.randn(3, 16, 2, 3)
    assert torch.allclose(layer(x)[1:2], layer(x[1:2]), atol=1e-6)


@pytest.mark.parametrize("channels,heads", [(16, 3), (16, 0), (12, 8)])
def test_channels_not_divisible_by_heads_raises(channels, heads):
    with pytest.raises(ValueError, match="num_heads"):
        SelfAttention2d(channels, heads, norm_groups=4)


def test_channels_not_divisible_by_norm_groups_raises():
    with pytest.raises(ValueError, match="norm_groups"):
        SelfAttention2d(24, 1, norm_groups=32)


def test_attention_implementation_switches_to_sdpa_and_back():
    from ldm_teach.nn.attention import attention_implementation, current_attention_implementation

    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=g) for _ in range(3))
    explicit = attention(q, k, v)
    with attention_implementation("sdpa"):
        assert current_attention_implementation() == "sdpa"
        fused = attention(q, k, v)
    assert current_attention_implementation() == "explicit"
    assert torch.allclose(fused, explicit, atol=1e-6, rtol=0)
    with pytest.raises(RuntimeError), attention_implementation("sdpa"):
        raise RuntimeError("restored on an error too")
    assert current_attention_implementation() == "explicit"


def test_attention_implementation_refuses_unknown_names():
    from ldm_teach.nn.attention import attention_implementation

    with pytest.raises(ValueError, match="name must be one of"):
        with attention_implementation("flash"):
            pass
