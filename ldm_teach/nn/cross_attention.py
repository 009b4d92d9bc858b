"""Multi-head cross-attention: image tokens ask, condition tokens answer
(Vaswani et al. 2017, arXiv:1706.03762, Eq. 1 and Sec. 3.2.2; Rombach et al. 2022,
arXiv:2112.10752, Sec. 3.3, Eq. 3):

    Q = x W_Q,   K = τ_θ(y) W_K,   V = τ_θ(y) W_V        # LDM Eq. 3 (per head)
    Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V       # Vaswani Eq. 1
    out = concat_heads(Attention) W_O                     # Vaswani Sec. 3.2.2

Here x are the N = H*W pixels of a UNet feature map (flattened by the caller) and
context = τ_θ(y) are the M tokens of the conditioning input (e.g. a caption's text-encoder
outputs). Each pixel's output is a weighted mix of the condition tokens; the (B, h, N, M)
softmax weights are what the chapter's attention maps show. With ``context=None`` the layer
is ordinary self-attention over x.

Layer names (to_q, to_k, to_v without bias, to_out with bias) follow the LDM code and
diffusers' ``Attention``; diffusers wraps the output projection as ``to_out.0`` (a Linear
followed by Dropout), which is the only key that differs.

Keys and values of a fixed context (course Sec. 10.4.4): during one sampling run the
caption's context is the same at every denoising step, so K = context W_K and
V = context W_V are too. Setting ``layer.context_cache = []`` (what
``ldm_teach.pipelines.fast_inference.cache_context_keys_values`` does for a whole UNet)
makes the layer remember (context, K, V) and reuse them whenever it sees an equal context
again; ``None`` (the default) computes them every call. The cache is used only without
gradients, and it assumes the weights do not change while it is on.

Shape alphabet: B batch, N query tokens, M context tokens, h heads, d head width,
D = h * d inner width.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ldm_teach.argcheck import check_bool
from ldm_teach.nn.attention import attention

#: The most (context, K, V) entries a layer keeps (guidance in two calls needs 2).
CONTEXT_CACHE_SIZE = 4


class CrossAttention(nn.Module):
    """Multi-head attention with queries from ``x`` and keys/values from ``context``.

    Args:
        query_dim: width of the query tokens x (the UNet channel width at this level).
        context_dim: width of the context tokens; ``None`` means ``query_dim``
            (self-attention layer).
        num_heads: h (default 8, as diffusers ``Attention``).
        head_dim: d, width of each head (default 64, as diffusers ``Attention``).
    Shapes:
        x (B, N, query_dim), context (B, M, context_dim) -> (B, N, query_dim).
    Raises:
        ValueError: if a width or head count is not positive.
    """

    def __init__(
        self,
        query_dim: int,
        context_dim: int | None = None,
        num_heads: int = 8,
        head_dim: int = 64,
    ) -> None:
        super().__init__()
        context_dim = query_dim if context_dim is None else context_dim
        for name, value in [
            ("query_dim", query_dim),
            ("context_dim", context_dim),
            ("num_heads", num_heads),
            ("head_dim", head_dim),
        ]:
            if value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value}")
        self.query_dim = query_dim
        self.context_dim = context_dim
        self.num_heads = num_heads
        self.head_dim = head_dim
        inner_dim = num_heads * head_dim  # D
        self.to_q = nn.Linear(query_dim, inner_dim, bias=False)  # W_Q
        self.to_k = nn.Linear(context_dim, inner_dim, bias=False)  # W_K
        self.to_v = nn.Linear(context_dim, inner_dim, bias=False)  # W_V
        self.to_out = nn.Linear(inner_dim, query_dim)  # W_O
        # Optional hook (layer, weights (B, h, N, M)) -> weights, called on the softmax
        # weights: records them (attention maps) or replaces them (prompt-to-prompt). None
        # (the default) leaves the layer as the plain formula. See pipelines/attention_maps.py.
        self.attention_control = None
        # Optional cache of [(key, context, K, V)], see the module docstring; None = off.
        self.context_cache: list | None = None

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        context_mask: Tensor | None = None,
        return_weights: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Attend from the tokens of ``x`` to the tokens of ``context``.

        Args:
            x: query tokens, (B, N, query_dim), float.
            context: key/value tokens, (B, M, context_dim), same dtype as x; ``None``
                attends x to itself (then M = N and query_dim must equal context_dim).
            context_mask: (B, M) bool, True = keep the token, False = ignore it (padding
                of a short caption). Ignored tokens get logit -inf before the softmax, so
                their weight is exactly 0 and their values cannot reach the output.
            return_weights: also return the softmax weights, for attention-map plots.
        Returns:
            out (B, N, query_dim); with ``return_weights`` the pair ``(out, weights)``,
            weights (B, h, N, M) float, each row summing to 1 over M.
        Raises:
            ValueError: if a shape or width disagrees with the layer, the mask is not a
                (B, M) bool tensor, or a batch item has every context token masked
                (its softmax would be 0/0).
        """
        return_weights = check_bool(return_weights, "return_weights")
        if x.ndim != 3 or x.shape[-1] != self.query_dim:
            raise ValueError(
                f"x must have shape (B, N, query_dim={self.query_dim}), got {tuple(x.shape)}"
            )
        if context is None:
            if self.context_dim != self.query_dim:
                raise ValueError(
                    f"context is None (self-attention) but this layer has "
                    f"context_dim={self.context_dim} != query_dim={self.query_dim}; pass context"
                )
            context = x
        if (
            context.ndim != 3
            or context.shape[0] != x.shape[0]
            or context.shape[-1] != self.context_dim
        ):
            raise ValueError(
                f"context must have shape (B={x.shape[0]}, M, context_dim={self.context_dim}), "
                f"got {tuple(context.shape)}"
            )
        B, N, _ = x.shape
        M = context.shape[1]
        h, d = self.num_heads, self.head_dim
        if context_mask is not None:
            if context_mask.dtype != torch.bool or context_mask.shape != (B, M):
                raise ValueError(
                    f"context_mask must be a bool tensor of shape (B, M) = ({B}, {M}), got "
                    f"{context_mask.dtype} {tuple(context_mask.shape)}"
                )
            empty = ~context_mask.any(dim=-1)  # (B,)
            if bool(empty.any()):
                raise ValueError(
                    f"context_mask hides every context token of batch items "
                    f"{empty.nonzero().flatten().tolist()}; keep at least one token per item"
                )

        # 1. project and split into heads, LDM Eq. 3
        q = self.to_q(x).view(B, N, h, d).transpose(1, 2)  # (B, h, N, d)
        k, v = self._keys_values(context, context is x)  # (B, M, D) each
        k = k.view(B, M, h, d).transpose(1, 2)  # (B, h, M, d)
        v = v.view(B, M, h, d).transpose(1, 2)  # (B, h, M, d)

        # 2. softmax(Q K^T / sqrt(d)) V, Vaswani Eq. 1
        weights = None
        control = self.attention_control
        if context_mask is None and not return_weights and control is None:
            out = attention(q, k, v)  # (B, h, N, d), the plain formula of attention.py
        else:
            # the same formula written out, with the mask added to the logits
            logits = (q @ k.transpose(-2, -1)) / math.sqrt(d)  # (B, h, N, M)
            if context_mask is not None:
                keep = context_mask[:, None, None, :]  # (B, 1, 1, M), broadcast over h, N
                logits = logits.masked_fill(~keep, float("-inf"))
            weights = torch.softmax(logits, dim=-1)  # (B, h, N, M)
            if control is not None:
                weights = control(self, weights)  # record or replace the maps
            out = weights @ v  # (B, h, N, d)

        # 3. concatenate heads and project back, Vaswani Sec. 3.2.2
        out = self.to_out(out.transpose(1, 2).reshape(B, N, h * d))  # (B, N, query_dim)
        if return_weights:
            return out, weights
        return out

    def _keys_values(self, context: Tensor, is_self: bool) -> tuple[Tensor, Tensor]:
        """(context W_K, context W_V), each (B, M, D): from the cache when it is on and
        holds an equal context (same shape, dtype, device, values and autocast state)."""
        cache = self.context_cache
        if cache is None or is_self or torch.is_grad_enabled():
            return self.to_k(context), self.to_v(context)
        autocast = torch.is_autocast_enabled(context.device.type)
        key = (
            tuple(context.shape),
            context.dtype,
            context.device,
            autocast and torch.get_autocast_dtype(context.device.type),
        )
        for entry_key, cached, k, v in cache:
            if entry_key == key and (cached is context or torch.equal(cached, context)):
                return k, v
        k, v = self.to_k(context), self.to_v(context)
        cache.append((key, context, k, v))
        del cache[:-CONTEXT_CACHE_SIZE]  # keep the newest entries
        return k, v
