"""The transformer that lets a UNet level read its condition: LDM's SpatialTransformer
(Rombach et al. 2022, arXiv:2112.10752, Sec. 3.3; layers of Vaswani et al. 2017,
arXiv:1706.03762, in the pre-norm arrangement).

One ``BasicTransformerBlock`` on tokens x (B, N, D) with condition tokens c = τ_θ(y):

    x = x + SelfAttn(LN1(x))                 # pixels talk to pixels
    x = x + CrossAttn(LN2(x), c)             # pixels read the condition, LDM Eq. 3
    x = x + FF(LN3(x))                       # per-token GEGLU MLP

where FF(x) = W_2 (a ⊙ GELU(g)) with [a, g] = W_1 x is the FFN_GEGLU feed-forward of
Shazeer 2020 (arXiv:2002.05202, Sec. 2), inner width 4 D as in Stable Diffusion.

``SpatialTransformer`` wraps the blocks for a (B, C, H, W) feature map:

    h = proj_in(GN(x))                       # 1x1 conv, C -> D = num_heads * head_dim
    h: (B, D, H, W) -> (B, H*W, D)           # pixels become N = H*W tokens
    h = blocks(h, c)
    h: (B, H*W, D) -> (B, D, H, W)
    out = x + proj_out(h)                    # 1x1 conv D -> C, zero-initialised

The 1x1-conv projections are the Stable Diffusion 1.x choice (diffusers
``use_linear_projection=False``); ``linear_projection=True`` makes them Linear layers on the
tokens (SD 2.x and SDXL), the same function with weights of shape (D, C) instead of
(D, C, 1, 1). ``proj_out`` starts at zero as in the LDM code, so a
freshly built SpatialTransformer is the identity and inserting it into a UNet does not
disturb what the UNet computes before training.

Layer names follow diffusers' ``Transformer2DModel`` / ``BasicTransformerBlock`` /
``FeedForward``; :func:`state_dict_from_diffusers` renames the one key that differs.

Shape alphabet: B batch, C channels, H/W height/width, N = H*W tokens, M context tokens,
D = num_heads * head_dim inner width.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.nn.cross_attention import CrossAttention
from ldm_teach.nn.norm import group_norm


def state_dict_from_diffusers(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename the keys of a diffusers ``Attention`` / ``BasicTransformerBlock`` /
    ``Transformer2DModel`` (continuous input, ``use_linear_projection=False``) state dict to
    those of :class:`CrossAttention` / :class:`BasicTransformerBlock` /
    :class:`SpatialTransformer`.

    The only difference is the output projection, ``to_out.0`` there (Linear inside a
    ModuleList with Dropout) and ``to_out`` here. Tensors are not copied.
    """
    return {re.sub(r"(^|\.)to_out\.0\.", r"\1to_out.", k): v for k, v in state_dict.items()}


class GEGLU(nn.Module):
    """Gated GELU unit (Shazeer 2020, arXiv:2002.05202, GEGLU): ``a * GELU(g)`` with
    ``[a, g] = proj(x)`` split in halves along the last dimension (a first, as in LDM and
    diffusers).

    Shapes: (..., dim_in) -> (..., dim_out).
    """

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, 2 * dim_out)

    def forward(self, x: Tensor) -> Tensor:
        a, gate = self.proj(x).chunk(2, dim=-1)  # (..., dim_out) each
        return a * F.gelu(gate)


class LinearGELU(nn.Module):
    """``GELU(proj(x))``, the ungated feed-forward input layer (Vaswani et al. use ReLU;
    GELU as in diffusers' ``GELU``). Shapes: (..., dim_in) -> (..., dim_out)."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out)

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(self.proj(x))


class FeedForward(nn.Module):
    """Position-wise feed-forward network of a transformer block.

    ``net = [GEGLU(dim -> mult*dim), Dropout, Linear(mult*dim -> dim)]``: the same indices
    as diffusers' ``FeedForward`` (``net.0.proj``, ``net.2``), so weights map key by key.

    Args:
        dim: token width D.
        mult: inner width = mult * D (4 in Stable Diffusion and Vaswani et al.).
        glu: GEGLU (Stable Diffusion) if True, else a plain GELU layer.
        dropout: dropout on the inner activations (0 in Stable Diffusion).
    Shapes:
        (B, N, D) -> (B, N, D).
    Raises:
        ValueError: if ``dim`` or ``mult`` is not positive.
    """

    def __init__(self, dim: int, mult: int = 4, glu: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        if dim <= 0 or mult <= 0:
            raise ValueError(f"dim and mult must be positive ints, got dim={dim}, mult={mult}")
        inner_dim = mult * dim
        project_in = GEGLU(dim, inner_dim) if glu else LinearGELU(dim, inner_dim)
        self.net = nn.Sequential(project_in, nn.Dropout(dropout), nn.Linear(inner_dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    """Pre-norm transformer block: self-attention, cross-attention, GEGLU feed-forward,
    each residual (see the module docstring for the three lines).

    Args:
        dim: token width D (= num_heads * head_dim inside SpatialTransformer).
        context_dim: width of the condition tokens; ``None`` makes the second attention a
            second self-attention, as the LDM code does for an unconditional model
            (diffusers: ``double_self_attention=True``).
        num_heads: h of both attentions.
        head_dim: d of both attentions.
    Shapes:
        x (B, N, D), context (B, M, context_dim), context_mask (B, M) bool
        -> (B, N, D).
    Raises:
        ValueError: if a width is not positive, or (in forward) from :class:`CrossAttention`
            when shapes disagree.
    """

    def __init__(self, dim: int, context_dim: int | None, num_heads: int, head_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = CrossAttention(dim, None, num_heads, head_dim)  # self-attention
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = CrossAttention(dim, context_dim, num_heads, head_dim)  # cross-attention
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(
        self, x: Tensor, context: Tensor | None = None, context_mask: Tensor | None = None
    ) -> Tensor:
        x = x + self.attn1(self.norm1(x))  # (B, N, D)
        x = x + self.attn2(self.norm2(x), context, context_mask)  # (B, N, D)
        return x + self.ff(self.norm3(x))  # (B, N, D)


class SpatialTransformer(nn.Module):
    """Transformer over the pixels of a feature map, conditioned by cross-attention
    (LDM Sec. 3.3; diffusers ``Transformer2DModel`` with continuous input).

    Args:
        in_channels: C of the feature map (input and output width).
        num_heads: h; the tokens are D = num_heads * head_dim wide.
        head_dim: d.
        context_dim: width of the condition tokens τ_θ(y), or ``None`` for no condition
            (then both attentions are self-attentions).
        depth: number of :class:`BasicTransformerBlock` (1 in Stable Diffusion 1.x).
        norm_groups: groups of the input GroupNorm; must divide ``in_channels``.
        linear_projection: proj_in / proj_out as Linear layers on the tokens (SD 2.x)
            instead of 1x1 convolutions (SD 1.x).
    Shapes:
        x (B, C, H, W), context (B, M, context_dim), context_mask (B, M) bool
        -> (B, C, H, W).
    Raises:
        ValueError: if ``in_channels`` is not divisible by ``norm_groups``, a width or
            ``depth`` is not positive, or (in forward) x is not (B, in_channels, H, W) or the
            context has the wrong width.
    """

    def __init__(
        self,
        in_channels: int,
        num_heads: int,
        head_dim: int,
        context_dim: int | None,
        depth: int = 1,
        norm_groups: int = 32,
        linear_projection: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(linear_projection, bool):
            raise ValueError(f"linear_projection must be a bool, got {linear_projection!r}")
        if num_heads <= 0 or head_dim <= 0:
            raise ValueError(
                f"num_heads and head_dim must be positive, got {num_heads} and {head_dim}"
            )
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if norm_groups <= 0 or in_channels <= 0 or in_channels % norm_groups:
            raise ValueError(
                f"in_channels ({in_channels}) must be a positive multiple of "
                f"norm_groups ({norm_groups})"
            )
        self.in_channels = in_channels
        inner_dim = num_heads * head_dim  # D
        self.norm = group_norm(in_channels, norm_groups)
        self.linear_projection = linear_projection
        if linear_projection:
            self.proj_in = nn.Linear(in_channels, inner_dim)
        else:
            self.proj_in = nn.Conv2d(in_channels, inner_dim, kernel_size=1)
        self.transformer_blocks = nn.ModuleList(
            [
                BasicTransformerBlock(inner_dim, context_dim, num_heads, head_dim)
                for _ in range(depth)
            ]
        )
        if linear_projection:
            self.proj_out = nn.Linear(inner_dim, in_channels)
        else:
            self.proj_out = nn.Conv2d(inner_dim, in_channels, kernel_size=1)
        nn.init.zeros_(self.proj_out.weight)  # identity at initialisation
        nn.init.zeros_(self.proj_out.bias)

    def forward(
        self, x: Tensor, context: Tensor | None = None, context_mask: Tensor | None = None
    ) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"x must have shape (B, in_channels={self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        B, C, H, W = x.shape
        h = self.norm(x)
        if self.linear_projection:  # tokens first, then Linear C -> D
            h = self.proj_in(h.permute(0, 2, 3, 1).reshape(B, H * W, C))  # (B, N, D)
        else:  # 1x1 conv C -> D, then tokens
            h = self.proj_in(h)  # (B, D, H, W)
            h = h.permute(0, 2, 3, 1).reshape(B, H * W, h.shape[1])  # (B, N, D), row-major
        for block in self.transformer_blocks:
            h = block(h, context, context_mask)  # (B, N, D)
        if self.linear_projection:
            h = self.proj_out(h)  # (B, N, C)
            return x + h.reshape(B, H, W, C).permute(0, 3, 1, 2)  # (B, C, H, W)
        h = h.reshape(B, H, W, h.shape[-1]).permute(0, 3, 1, 2)  # (B, D, H, W)
        return x + self.proj_out(h)  # (B, C, H, W)
