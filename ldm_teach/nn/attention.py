"""Multi-head scaled dot-product self-attention over the pixels of a feature map
(Vaswani et al. 2017, arXiv:1706.03762, Eq. 1):

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V

used at low resolution in the UNet and in the middle of the autoencoder (Rombach et al.
2022, arXiv:2112.10752, Appendix G). The H*W pixels are the N tokens, so memory grows
as N^2 = (H W)^2: the reason the chapter moves diffusion to a small latent grid.

Two implementations compute the same formula (course Sec. 10.4.4, inference optimisation):

- ``"explicit"`` (the default): the three lines of :func:`attention`, so the reader sees
  every step and the (B, h, N, M) weights exist (attention maps need them);
- ``"sdpa"``: ``torch.nn.functional.scaled_dot_product_attention``, PyTorch's fused kernel
  (FlashAttention-style on GPUs, Dao et al. 2022, arXiv:2205.14135), which never stores
  the weights.

``with attention_implementation("sdpa"): ...`` switches every :func:`attention` call for
the duration of the block (a module-level setting, restored on exit, also on an error).
Layers that must read the weights (``CrossAttention`` with ``return_weights``, a mask or an
``attention_control`` hook) keep the explicit formula whatever the setting.

Shape alphabet: B batch, C channels, H/W height/width, N = H*W tokens, h heads,
d = C / h head width.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.argcheck import check_choice
from ldm_teach.nn.norm import group_norm

ATTENTION_IMPLEMENTATIONS = ("explicit", "sdpa")
_implementation = "explicit"  # what attention() computes with; see attention_implementation


def current_attention_implementation() -> str:
    """The implementation :func:`attention` uses now: "explicit" or "sdpa"."""
    return _implementation


@contextmanager
def attention_implementation(name: str) -> Iterator[None]:
    """Compute every :func:`attention` call in the ``with`` block with ``name``.

    Args:
        name: "explicit" (softmax written out, the default) or "sdpa"
            (``torch.nn.functional.scaled_dot_product_attention``).
    Raises:
        ValueError: if ``name`` is not one of ATTENTION_IMPLEMENTATIONS.
    """
    global _implementation
    name = check_choice(name, "name", ATTENTION_IMPLEMENTATIONS)
    previous, _implementation = _implementation, name
    try:
        yield
    finally:
        _implementation = previous


def attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """softmax(q k^T / sqrt(d)) v, written out so the reader sees every step.

    Args:
        q: (B, h, N, d); k, v: (B, h, M, d), any float dtype.
    Returns:
        (B, h, N, d). Equals ``torch.nn.functional.scaled_dot_product_attention``
        (tested to 1e-6), which computes it instead inside
        ``attention_implementation("sdpa")``.
    """
    if _implementation == "sdpa":
        return F.scaled_dot_product_attention(q, k, v)  # (B, h, N, d), fused
    scale = 1.0 / math.sqrt(q.shape[-1])
    weights = torch.softmax((q @ k.transpose(-2, -1)) * scale, dim=-1)  # (B, h, N, M)
    return weights @ v  # (B, h, N, d)


class SelfAttention2d(nn.Module):
    """Residual multi-head self-attention on a (B, C, H, W) feature map.

    Args:
        channels: C; must be divisible by ``num_heads`` and by ``norm_groups``.
        num_heads: h.
        norm_groups: groups of the GroupNorm applied before attention.
    Shapes:
        (B, C, H, W) -> (B, C, H, W); ``x + to_out(attention(GN(x)))``.
    Raises:
        ValueError: if ``channels`` is not divisible by ``num_heads``.
    """

    def __init__(self, channels: int, num_heads: int = 1, norm_groups: int = 32) -> None:
        super().__init__()
        if num_heads <= 0 or channels % num_heads != 0:
            raise ValueError(f"channels ({channels}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.group_norm = group_norm(channels, norm_groups)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.Linear(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        h, d = self.num_heads, C // self.num_heads
        tokens = self.group_norm(x).view(B, C, H * W).transpose(1, 2)  # (B, N, C)
        q = self.to_q(tokens).view(B, H * W, h, d).transpose(1, 2)  # (B, h, N, d)
        k = self.to_k(tokens).view(B, H * W, h, d).transpose(1, 2)  # (B, h, N, d)
        v = self.to_v(tokens).view(B, H * W, h, d).transpose(1, 2)  # (B, h, N, d)
        out = attention(q, k, v).transpose(1, 2).reshape(B, H * W, C)  # (B, N, C)
        out = self.to_out(out).transpose(1, 2).view(B, C, H, W)  # (B, C, H, W)
        return x + out
