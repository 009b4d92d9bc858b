"""The denoising UNet epsilon_theta(z_t, t, y) of stage 2
(Ronneberger et al. 2015, arXiv:1505.04597; diffusion form of Ho et al. 2020,
arXiv:2006.11239, Appendix B, and Dhariwal & Nichol 2021, arXiv:2105.05233, Sec. 3).

    emb   = MLP(timestep_embedding(t)) + class_embedding(y)     # (B, E)
    down: per level, num_res_blocks x [ResnetBlock(emb) (+ self-attention)], then Downsample
    mid:  ResnetBlock(emb), self-attention, ResnetBlock(emb)
    up:   per level, (num_res_blocks + 1) x [concat skip, ResnetBlock(emb) (+ attention)],
          then Upsample
    out:  GroupNorm, SiLU, conv (zero-initialised, so training starts from eps_hat = 0)

Conditioning (chapter 10.3.3), chosen by ``UNetConfig``:

- ``class_conditioning="embedding"``: a learned embedding of the label is added to the
  timestep embedding, so every ResNet block sees it (ADM, Sec. 3);
- ``"film"``: the label embedding scales and shifts the features after each block of the
  ``condition_levels`` (FiLM, Perez et al. 2018);
- ``"cross_attention"``: the label becomes a context token that a SpatialTransformer after
  each block of the ``condition_levels`` attends to (LDM Sec. 3.3, Eq. 3). With
  ``context_dim`` set, ``forward(..., context=tokens)`` passes any token sequence instead
  (e.g. an encoded caption);
- ``concat_channels`` > 0: a spatial condition (a mask and masked latent for inpainting,
  a low-resolution image for super-resolution) is concatenated to z_t at the input
  (LDM Sec. 3.3, "concatenation").

``condition_levels`` (None = all) lets an experiment inject the condition only at fine
(high-resolution) or only at coarse levels; the middle block counts as the last level.
Label ``num_classes`` is the "null" label used for classifier-free guidance (Ho &
Salimans 2022, arXiv:2207.12598): training drops labels to it with some probability, and
sampling asks the same network for the unconditional prediction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.models.unet_config import CLASS_CONDITIONING, UNetConfig  # noqa: F401
from ldm_teach.models.unet_inputs import (  # noqa: F401  (MAX_TIMESTEP: the UNet's API)
    MAX_TIMESTEP,
    check_forward_inputs,
)
from ldm_teach.nn import Downsample, ResnetBlock, SelfAttention2d, Upsample, group_norm
from ldm_teach.nn.embeddings import timestep_embedding
from ldm_teach.nn.film import FiLM
from ldm_teach.nn.transformer import SpatialTransformer

__all__ = ["UNet", "UNetConfig"]


class UNet(nn.Module):
    """Noise-prediction UNet with timestep and optional class conditioning.

    Args:
        cfg: a :class:`UNetConfig`.
    Forward:
        x: z_t, (B, in_channels, H, W), float, B >= 1; H and W divisible by 2^(levels-1).
        t: timesteps, (B,) or a scalar, integers in [0, T-1]. The UNet does not know T, so
           it accepts any real t in [0, MAX_TIMESTEP] (1e5) and refuses negative,
           non-finite or larger values (a sign of a bug: t in seconds, a float cast, ...).
        y: labels, (B,) int64 in [0, num_classes] (num_classes = unconditional), or None
           (treated as all-unconditional) when the model is class-conditional.
        Returns (B, out_channels, H, W).
    Raises:
        ValueError: on shape mismatches (incl. a channel count other than ``in_channels``),
            an empty batch, timesteps that are not finite real numbers in
            [0, MAX_TIMESTEP], labels out of range, or labels given to an unconditional
            model.
    """

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.config = cfg
        g = cfg.norm_groups
        emb_dim = 4 * cfg.base_channels
        self.time_embed = nn.Sequential(
            nn.Linear(cfg.base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        # the label's embedding: added to emb, a FiLM vector, or one context token
        self.context_width = cfg.context_dim or emb_dim
        label_width = self.context_width if cfg.class_conditioning == "cross_attention" else emb_dim
        self.class_embed = (
            nn.Embedding(cfg.num_classes + 1, label_width) if cfg.num_classes is not None else None
        )
        widths = [cfg.base_channels * m for m in cfg.channel_mult]
        self.conv_in = nn.Conv2d(cfg.in_channels + cfg.concat_channels, widths[0], 3, padding=1)
        self.down_conds = nn.ModuleList()
        self.up_conds = nn.ModuleList()

        # Down path: remember the width of every tensor pushed on the skip stack.
        self.down_blocks = nn.ModuleList()
        self.down_attns = nn.ModuleList()
        self.downsamplers = nn.ModuleList()
        skip_widths = [widths[0]]
        ch = widths[0]
        for level, width in enumerate(widths):
            blocks, attns, conds = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResnetBlock(ch, width, emb_dim, cfg.dropout, g, cfg.norm_eps))
                attns.append(self._attn(width, level))
                conds.append(self._conditioner(width, level))
                ch = width
                skip_widths.append(ch)
            self.down_blocks.append(blocks)
            self.down_attns.append(attns)
            self.down_conds.append(conds)
            if level < len(widths) - 1:
                self.downsamplers.append(Downsample(ch))
                skip_widths.append(ch)
            else:
                self.downsamplers.append(nn.Identity())

        self.mid_block1 = ResnetBlock(ch, ch, emb_dim, cfg.dropout, g, cfg.norm_eps)
        deepest = len(widths) - 1
        self.mid_attn = self._attn(ch, deepest, mid=True) if cfg.mid_attention else nn.Identity()
        self.mid_cond = self._conditioner(ch, deepest, mid=True)
        self.mid_block2 = ResnetBlock(ch, ch, emb_dim, cfg.dropout, g, cfg.norm_eps)

        # Up path: each block takes the current tensor concatenated with one skip.
        self.up_blocks = nn.ModuleList()
        self.up_attns = nn.ModuleList()
        self.upsamplers = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            blocks, attns, conds = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(
                    ResnetBlock(
                        ch + skip_widths.pop(), width, emb_dim, cfg.dropout, g, cfg.norm_eps
                    )
                )
                attns.append(self._attn(width, level))
                conds.append(self._conditioner(width, level))
                ch = width
            self.up_blocks.append(blocks)
            self.up_attns.append(attns)
            self.up_conds.append(conds)
            self.upsamplers.append(Upsample(ch) if level > 0 else nn.Identity())

        self.norm_out = group_norm(ch, g, cfg.norm_eps)
        self.conv_out = nn.Conv2d(ch, cfg.out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def _attn(self, width: int, level: int, mid: bool = False) -> nn.Module:
        """Self-attention after a block of an ``attention_levels`` level (the middle
        block's follows ``mid_attention``), else Identity."""
        if mid or level in self.config.attention_levels:
            heads = self.config.heads_at(level)
            return SelfAttention2d(width, heads, self.config.norm_groups)
        return nn.Identity()

    def _conditioner(self, width: int, level: int, mid: bool = False) -> nn.Module:
        """FiLM or a SpatialTransformer after a block of a conditioned level, else Identity
        (which has no parameters, so checkpoints of embedding-only UNets are unchanged)."""
        cfg = self.config
        conditioned = (
            cfg.conditions_mid
            if mid
            else (cfg.condition_levels is None or level in cfg.condition_levels)
        )
        if not conditioned:
            return nn.Identity()
        if cfg.uses_cross_attention:
            heads = cfg.heads_at(level)
            return SpatialTransformer(
                width,
                heads,
                width // heads,
                self.context_width,
                cfg.depth_at(level),
                cfg.norm_groups,
                linear_projection=cfg.linear_projection,
            )
        if cfg.class_conditioning == "film":
            return FiLM(width, 4 * cfg.base_channels)
        return nn.Identity()

    @staticmethod
    def _apply_cond(
        cond: nn.Module,
        h: Tensor,
        film: Tensor | None,
        context: Tensor | None,
        context_mask: Tensor | None,
    ) -> Tensor:
        if isinstance(cond, FiLM):
            return cond(h, film)
        if isinstance(cond, SpatialTransformer):
            return cond(h, context, context_mask)
        return h

    @property
    def size_divisor(self) -> int:
        return 2 ** (len(self.config.channel_mult) - 1)

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        y: Tensor | None = None,
        context: Tensor | None = None,
        context_mask: Tensor | None = None,
        concat: Tensor | None = None,
    ) -> Tensor:
        """eps_theta(x, t, condition); see the class docstring for shapes.

        Args:
            context: (B, M, context_dim) tokens for cross-attention (UNets with
                ``context_dim``); with ``class_conditioning="cross_attention"`` and labels,
                None means "use the label's token".
            context_mask: (B, M) bool, False for padding tokens.
            concat: (B, concat_channels, H, W) spatial condition (``concat_channels`` > 0).
        """
        cfg = self.config
        t, y, context, context_mask, concat = check_forward_inputs(
            cfg,
            self.conv_in.weight.dtype,
            self.size_divisor,
            x,
            t,
            y,
            context,
            context_mask,
            concat,
        )
        if concat is not None:  # a spatial condition, concatenated channel-wise
            x = torch.cat([x, concat], dim=1)  # (B, in_channels + concat_channels, H, W)
        emb = self.time_embed(timestep_embedding(t, cfg.base_channels).to(x.dtype))  # (B, E)
        film = None
        if y is not None:  # class-conditional: the label's embedding enters as configured
            label = self.class_embed(y)  # (B, E) or (B, context width)
            if cfg.class_conditioning == "embedding":
                emb = emb + label
            elif cfg.class_conditioning == "film":
                film = label
            elif context is None:  # cross-attention on the label's token
                context, context_mask = label[:, None, :], None  # (B, 1, width)

        def cond(module: nn.Module, h: Tensor) -> Tensor:
            return self._apply_cond(module, h, film, context, context_mask)

        h = self.conv_in(x)
        skips = [h]
        for blocks, attns, conds, down in zip(
            self.down_blocks, self.down_attns, self.down_conds, self.downsamplers, strict=True
        ):
            for block, attn, c in zip(blocks, attns, conds, strict=True):
                h = cond(c, attn(block(h, emb)))
                skips.append(h)
            if not isinstance(down, nn.Identity):
                h = down(h)
                skips.append(h)
        h = self.mid_block2(cond(self.mid_cond, self.mid_attn(self.mid_block1(h, emb))), emb)
        for blocks, attns, conds, up in zip(
            self.up_blocks, self.up_attns, self.up_conds, self.upsamplers, strict=True
        ):
            for block, attn, c in zip(blocks, attns, conds, strict=True):
                # (B, C + C_skip, H, W) -> (B, C, H, W)
                h = cond(c, attn(block(torch.cat([h, skips.pop()], dim=1), emb)))
            h = up(h)
        return self.conv_out(F.silu(self.norm_out(h)))
