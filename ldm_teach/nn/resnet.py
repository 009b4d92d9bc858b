"""ResNet block with optional timestep (or any vector) conditioning.

He et al. 2016 (arXiv:1512.03385) residual block in the pre-activation form used by the
DDPM UNet (Ho et al. 2020, arXiv:2006.11239, Appendix B) and the LDM autoencoders
(Rombach et al. 2022, arXiv:2112.10752):

    h = conv1(SiLU(GN(x)))
    h = h + Linear(SiLU(emb))[:, :, None, None]        # only when emb is given
    h = conv2(Dropout(SiLU(GN(h))))
    out = shortcut(x) + h                              # 1x1 conv when widths differ

Layer names follow diffusers' ``ResnetBlock2D`` (norm1, conv1, time_emb_proj, norm2,
conv2, conv_shortcut) so that checkpoints map onto it key by key.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.nn.norm import group_norm


class ResnetBlock(nn.Module):
    """Pre-activation ResNet block, optionally conditioned on an embedding vector.

    Args:
        in_channels: input width C_in.
        out_channels: output width C_out (defaults to C_in).
        emb_channels: width of the conditioning vector, or ``None`` for no conditioning.
        dropout: dropout probability before the second convolution.
        norm_groups: groups of both GroupNorms (must divide C_in and C_out).
        norm_eps: their epsilon (1e-6 as in the LDM code; Stable Diffusion's UNet: 1e-5).
    Shapes:
        x (B, C_in, H, W), emb (B, emb_channels) -> (B, C_out, H, W).
    Raises:
        ValueError: if a width is not divisible by ``norm_groups``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None = None,
        emb_channels: int | None = None,
        dropout: float = 0.0,
        norm_groups: int = 32,
        norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        out_channels = out_channels or in_channels
        self.norm1 = group_norm(in_channels, norm_groups, norm_eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_emb_proj = nn.Linear(emb_channels, out_channels) if emb_channels else None
        self.norm2 = group_norm(out_channels, norm_groups, norm_eps)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv_shortcut = (
            nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_emb_proj is not None:
            if emb is None:
                raise ValueError("this ResnetBlock was built with emb_channels; pass emb")
            h = h + self.time_emb_proj(F.silu(emb))[:, :, None, None]  # (B, C_out, 1, 1)
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        skip = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        return skip + h
