"""CrossAttention (ldm_teach.nn.cross_attention): LDM Eq. 3 against diffusers and torch SDPA,
masking, returned weights, errors."""

import pytest
import torch
import torch.nn.functional as F

from ldm_teach.nn.cross_attention import CrossAttention
from ldm_teach.nn.transformer import state_dict_from_diffusers

B, N, M = 2, 6, 5
QUERY_DIM, CONTEXT_DIM, HEADS, HEAD_DIM = 16, 12, 2, 8


def _layer(context_dim=CONTEXT_DIM, seed=0):
    torch.manual_seed(seed)
    return CrossAttention(QUERY_DIM, context_dim, HEADS, HEAD_DIM).eval()


def _inputs(seed=1, context_dim=CONTEXT_DIM):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, N, QUERY_DIM, generator=g), torch.randn(B, M, context_dim, generator=g)


def test_layer_names_and_biases():
    layer = _layer()
    assert layer.to_q.bias is None and layer.to_k.bias is None and layer.to_v.bias is None
    assert layer.to_out.bias is not None
    assert layer.to_q.weight.shape == (HEADS * HEAD_DIM, QUERY_DIM)
    assert layer.to_k.weight.shape == (HEADS * HEAD_DIM, CONTEXT_DIM)
    assert layer.to_out.weight.shape == (QUERY_DIM, HEADS * HEAD_DIM)


@pytest.mark.parametrize("context_dim", [CONTEXT_DIM, None])
def test_matches_diffusers_attention(context_dim):
    from diffusers.models.attention_processor import Attention

    ref = Attention(
        QUERY_DIM, cross_attention_dim=context_dim, heads=HEADS, dim_head=HEAD_DIM, bias=False
    ).eval()
    layer = _layer(context_dim)
    missing = layer.load_state_dict(state_dict_from_diffusers(ref.state_dict()), strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys
    x, context = _inputs(context_dim=context_dim or QUERY_DIM)
    with torch.no_grad():
        if context_dim is None:  # self-attention
            ours, theirs = layer(x), ref(x)
        else:
            ours, theirs = layer(x, context), ref(x, encoder_hidden_states=context)
    assert ours.shape == (B, N, QUERY_DIM)
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)


def _split(t, heads):  # (B, L, h*d) -> (B, h, L, d)
    return t.view(t.shape[0], t.shape[1], heads, -1).transpose(1, 2)


def test_matches_torch_sdpa_on_projected_tensors():
    layer = _layer()
    x, context = _inputs()
    with torch.no_grad():
        q = _split(layer.to_q(x), HEADS)  # (B, h, N, d)
        k = _split(layer.to_k(context), HEADS)  # (B, h, M, d)
        v = _split(layer.to_v(context), HEADS)
        ref = F.scaled_dot_product_attention(q, k, v)  # (B, h, N, d)
        ref = layer.to_out(ref.transpose(1, 2).reshape(B, N, HEADS * HEAD_DIM))
        out = layer(x, context)
    assert torch.allclose(out, ref, atol=1e-5, rtol=0)


def test_weights_rows_sum_to_one_and_reproduce_output():
    layer = _layer()
    x, context = _inputs()
    with torch.no_grad():
        out, weights = layer(x, context, return_weights=True)
        plain = layer(x, context)  # path through attention.attention()
        v = _split(layer.to_v(context), HEADS)  # (B, h, M, d)
        rebuilt = layer.to_out((weights @ v).transpose(1, 2).reshape(B, N, -1))
    assert weights.shape == (B, HEADS, N, M)
    assert bool((weights >= 0).all())
    assert torch.allclose(weights.sum(-1), torch.ones(B, HEADS, N), atol=1e-6)
    assert torch.allclose(out, plain, atol=1e-6)
    assert torch.allclose(out, rebuilt, atol=1e-6)


def test_weights_are_softmax_of_scaled_logits():
    layer = _layer()
    x, context = _inputs()
    with torch.no_grad():
        _, weights = layer(x, context, return_weights=True)
        q = _split(layer.to_q(x), HEADS)
        k = _split(layer.to_k(context), HEADS)
    expected = torch.softmax(q @ k.transpose(-2, -1) / HEAD_DIM**0.5, dim=-1)
    assert torch.allclose(weights, expected, atol=1e-6)


def _mask():
    mask = torch.ones(B, M, dtype=torch.bool)
    mask[0, 3:] = False  # item 0 keeps tokens 0..2
    mask[1, 0] = False  # item 1 drops token 0
    return mask


def test_masked_tokens_get_zero_weight():
    layer = _layer()
    x, context = _inputs()
    mask = _mask()
    with torch.no_grad():
        _, weights = layer(x, context, context_mask=mask, return_weights=True)
    hidden = ~mask[:, None, None, :].expand_as(weights)  # (B, h, N, M)
    assert bool((weights[hidden] == 0).all())
    assert torch.allclose(weights.sum(-1), torch.ones(B, HEADS, N), atol=1e-6)


def test_changing_masked_tokens_does_not_change_output():
    layer = _layer()
    x, context = _inputs()
    mask = _mask()
    changed = context.clone()
    changed[~mask] = 100.0 * torch.randn(int((~mask).sum()))[:, None]
    with torch.no_grad():
        a = layer(x, context, context_mask=mask)
        b = layer(x, changed, context_mask=mask)
        unmasked = layer(x, changed)
    assert torch.equal(a, b)
    assert not torch.allclose(a, unmasked, atol=1e-3)  # the mask did something


def test_mask_equals_dropping_the_tokens():
    layer = _layer()
    x, context = _inputs()
    mask = torch.ones(B, M, dtype=torch.bool)
    mask[:, 2:] = False
    with torch.no_grad():
        assert torch.allclose(
            layer(x, context, context_mask=mask), layer(x, context[:, :2]), atol=1e-6
        )


def test_mask_matches_torch_sdpa_bool_mask():
    layer = _layer()
    x, context = _inputs()
    mask = _mask()
    with torch.no_grad():
        q = _split(layer.to_q(x), HEADS)
        k = _split(layer.to_k(context), HEADS)
        v = _split(layer.to_v(context), HEADS)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        ref = layer.to_out(ref.transpose(1, 2).reshape(B, N, -1))
        out = layer(x, context, context_mask=mask)
    assert torch.allclose(out, ref, atol=1e-5, rtol=0)


def test_fully_masked_item_raises():
    layer = _layer()
    x, context = _inputs()
    mask = torch.ones(B, M, dtype=torch.bool)
    mask[1] = False
    with pytest.raises(ValueError, match=r"every context token of batch items \[1\]"):
        layer(x, context, context_mask=mask)


@pytest.mark.parametrize(
    "mask", [torch.ones(B, M), torch.ones(B, M + 1, dtype=torch.bool)], ids=["float", "shape"]
)
def test_bad_mask_raises(mask):
    x, context = _inputs()
    with pytest.raises(ValueError, match="context_mask must be a bool tensor"):
        _layer()(x, context, context_mask=mask)


def test_context_of_wrong_width_raises():
    x, _ = _inputs()
    with pytest.raises(ValueError, match=f"context_dim={CONTEXT_DIM}"):
        _layer()(x, torch.randn(B, M, CONTEXT_DIM + 1))


def test_context_of_wrong_batch_raises():
    x, _ = _inputs()
    with pytest.raises(ValueError, match="context must have shape"):
        _layer()(x, torch.randn(B + 1, M, CONTEXT_DIM))


def test_x_of_wrong_width_raises():
    _, context = _inputs()
    with pytest.raises(ValueError, match=f"query_dim={QUERY_DIM}"):
        _layer()(torch.randn(B, N, QUERY_DIM + 1), context)


def test_missing_context_for_cross_layer_raises():
    x, _ = _inputs()
    with pytest.raises(ValueError, match="pass context"):
        _layer()(x)


@pytest.mark.parametrize("arg", ["query_dim", "context_dim", "num_heads", "head_dim"])
def test_non_positive_sizes_raise(arg):
    kwargs = dict(query_dim=8, context_dim=4, num_heads=2, head_dim=4)
    kwargs[arg] = 0
    with pytest.raises(ValueError, match=arg):
        CrossAttention(**kwargs)


def test_self_attention_is_token_permutation_equivariant():
    torch.manual_seed(3)
    layer = CrossAttention(QUERY_DIM, None, HEADS, HEAD_DIM).eval()
    x, _ = _inputs()
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert torch.allclose(layer(x[:, perm]), layer(x)[:, perm], atol=1e-6)


def test_output_is_invariant_to_context_token_order():
    # attention sums over the context tokens, so their order does not matter
    layer = _layer()
    x, context = _inputs()
    perm = torch.randperm(M, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.allclose(layer(x, context[:, perm]), layer(x, context), atol=1e-6)


def test_context_cache_is_exact_and_projects_the_context_once():
    layer = _layer()
    x, c = _inputs()
    plain = layer(x, c)
    calls = []
    layer.to_k.register_forward_hook(lambda *a: calls.append(1))
    layer.context_cache = []
    with torch.no_grad():
        first = layer(x, c)
        again = layer(x * 2, c.clone())  # an equal context in a new tensor hits the cache
        other = layer(x, c + 1)  # a new context is projected
    assert len(calls) == 2 and len(layer.context_cache) == 2
    assert torch.allclose(first, plain, atol=1e-6, rtol=0)
    layer.context_cache = None
    assert torch.allclose(again, layer(x * 2, c), atol=1e-6, rtol=0)
    assert torch.allclose(other, layer(x, c + 1), atol=1e-6, rtol=0)


def test_context_cache_keeps_the_attention_control_hook_and_skips_gradients():
    layer = _layer()
    x, c = _inputs()
    seen = []
    layer.attention_control = lambda lyr, w: seen.append(w) or w
    plain, w_plain = layer(x, c, return_weights=True)
    layer.context_cache = []
    with torch.no_grad():
        cached, w_cached = layer(x, c, return_weights=True)
    assert len(seen) == 2 and torch.allclose(w_cached, w_plain, atol=1e-6, rtol=0)
    assert torch.allclose(cached, plain, atol=1e-6, rtol=0)
    layer(x, c)  # with gradients on, the cache is not used (nor filled)
    assert len(layer.context_cache) == 1
