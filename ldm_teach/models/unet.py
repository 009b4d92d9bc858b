"""The denoising UNet epsilon_theta(z_t, t, y) of stage 2
(Ronneberger et al. 2015, arXiv:1505.04597; diffusion form of Ho et al. 2020,
arXiv:2006.11239, Appendix B, and Dhariwal & Nichol 2021, arXiv:2105.05233, Sec. 3).

    emb   = MLP(timestep_embedding(t)) + class_embedding(y)     # (B, E)
    down: per level, num_res_blocks x [ResnetBlock(emb) (+ self-attention)], then Downsample
    mid:  ResnetBlock(emb), self-attention, ResnetBlock(emb)
    up:   per level, (num_res_blocks + 1) x [concat skip, ResnetBlock(emb) (+ attention)],
          then Upsample
    out:  GroupNorm, SiLU, conv (zero-initialised, so training starts from eps_hat = 0)

Class conditioning adds a learned embedding of the label to the timestep embedding
(ADM, Sec. 3). Label ``num_classes`` is the "null" label used for classifier-free
guidance (Ho & Salimans 2022, arXiv:2207.12598): training drops labels to it with some
probability, and sampling asks the same network for the unconditional prediction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.nn import Downsample, ResnetBlock, SelfAttention2d, Upsample, group_norm
from ldm_teach.nn.embeddings import timestep_embedding
from ldm_teach.nn.norm import check_widths


@dataclass(frozen=True)
class UNetConfig:
    """Configuration of :class:`UNet`; validated at construction."""

    in_channels: int = 4  # channels of z_t (latent channels, or 3 in pixel space)
    out_channels: int = 4  # channels of the prediction (eps, x0 or v)
    base_channels: int = 64  # width of the first level
    channel_mult: tuple[int, ...] = (1, 2)  # width multiplier per level
    num_res_blocks: int = 2  # ResNet blocks per level on the way down
    attention_levels: tuple[int, ...] = (1,)  # levels (0 = full resolution) with self-attention
    num_heads: int = 4  # attention heads
    num_classes: int | None = None  # class-conditional if set; label num_classes means "none"
    dropout: float = 0.0  # dropout in ResNet blocks
    norm_groups: int = 32  # GroupNorm groups; must divide every width

    def __post_init__(self) -> None:
        if self.in_channels <= 0 or self.out_channels <= 0:
            raise ValueError(
                f"in_channels and out_channels must be positive, got "
                f"{self.in_channels} and {self.out_channels}"
            )
        if not self.channel_mult or any(m <= 0 for m in self.channel_mult):
            raise ValueError(
                f"channel_mult must be non-empty positive ints, got {self.channel_mult}"
            )
        if self.num_res_blocks < 1:
            raise ValueError(f"num_res_blocks must be >= 1, got {self.num_res_blocks}")
        bad = [lvl for lvl in self.attention_levels if not 0 <= lvl < len(self.channel_mult)]
        if bad:
            raise ValueError(
                f"attention_levels must be in [0, {len(self.channel_mult) - 1}], got {bad}"
            )
        if self.num_classes is not None and self.num_classes < 1:
            raise ValueError(f"num_classes must be None or >= 1, got {self.num_classes}")
        if self.base_channels % 2:
            raise ValueError(f"base_channels must be even, got {self.base_channels}")
        check_widths(self.base_channels, self.channel_mult, self.norm_groups)
        for m in self.channel_mult:
            width = self.base_channels * m
            if width % self.num_heads:
                raise ValueError(f"width {width} is not divisible by num_heads={self.num_heads}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> UNetConfig:
        d = dict(d)
        d["channel_mult"] = tuple(d["channel_mult"])
        d["attention_levels"] = tuple(d["attention_levels"])
        return cls(**d)


class UNet(nn.Module):
    """Noise-prediction UNet with timestep and optional class conditioning.

    Args:
        cfg: a :class:`UNetConfig`.
    Forward:
        x: z_t, (B, in_channels, H, W), float; H and W divisible by 2^(levels-1).
        t: timesteps, (B,) integers in [0, T-1] (any real values are accepted).
        y: labels, (B,) int64 in [0, num_classes] (num_classes = unconditional), or None
           (treated as all-unconditional) when the model is class-conditional.
        Returns (B, out_channels, H, W).
    Raises:
        ValueError: on shape mismatches, labels out of range, or labels given to an
            unconditional model.
    """

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.config = cfg
        g = cfg.norm_groups
        emb_dim = 4 * cfg.base_channels
        self.time_embed = nn.Sequential(
            nn.Linear(cfg.base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.class_embed = (
            nn.Embedding(cfg.num_classes + 1, emb_dim) if cfg.num_classes is not None else None
        )
        widths = [cfg.base_channels * m for m in cfg.channel_mult]
        self.conv_in = nn.Conv2d(cfg.in_channels, widths[0], 3, padding=1)

        # Down path: remember the width of every tensor pushed on the skip stack.
        self.down_blocks = nn.ModuleList()
        self.down_attns = nn.ModuleList()
        self.downsamplers = nn.ModuleList()
        skip_widths = [widths[0]]
        ch = widths[0]
        for level, width in enumerate(widths):
            blocks, attns = nn.ModuleList(), nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResnetBlock(ch, width, emb_dim, cfg.dropout, g))
                attns.append(self._attn(width, level))
                ch = width
                skip_widths.append(ch)
            self.down_blocks.append(blocks)
            self.down_attns.append(attns)
            if level < len(widths) - 1:
                self.downsamplers.append(Downsample(ch))
                skip_widths.append(ch)
            else:
                self.downsamplers.append(nn.Identity())

        self.mid_block1 = ResnetBlock(ch, ch, emb_dim, cfg.dropout, g)
        self.mid_attn = SelfAttention2d(ch, cfg.num_heads, g)
        self.mid_block2 = ResnetBlock(ch, ch, emb_dim, cfg.dropout, g)

        # Up path: each block takes the current tensor concatenated with one skip.
        self.up_blocks = nn.ModuleList()
        self.up_attns = nn.ModuleList()
        self.upsamplers = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            blocks, attns = nn.ModuleList(), nn.ModuleList()
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResnetBlock(ch + skip_widths.pop(), width, emb_dim, cfg.dropout, g))
                attns.append(self._attn(width, level))
                ch = width
            self.up_blocks.append(blocks)
            self.up_attns.append(attns)
            self.upsamplers.append(Upsample(ch) if level > 0 else nn.Identity())

        self.norm_out = group_norm(ch, g)
        self.conv_out = nn.Conv2d(ch, cfg.out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def _attn(self, width: int, level: int) -> nn.Module:
        if level in self.config.attention_levels:
            return SelfAttention2d(width, self.config.num_heads, self.config.norm_groups)
        return nn.Identity()

    @property
    def size_divisor(self) -> int:
        return 2 ** (len(self.config.channel_mult) - 1)

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ValueError(
                f"x must have shape (B, {cfg.in_channels}, H, W), got {tuple(x.shape)}"
            )
        if x.shape[2] % self.size_divisor or x.shape[3] % self.size_divisor:
            raise ValueError(
                f"x's height and width must be divisible by {self.size_divisor}, "
                f"got {tuple(x.shape[2:])}"
            )
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must have shape ({x.shape[0]},), got {tuple(t.shape)}")

        emb = self.time_embed(timestep_embedding(t, cfg.base_channels).to(x.dtype))  # (B, E)
        if self.class_embed is not None:
            if y is None:
                y = torch.full((x.shape[0],), cfg.num_classes, dtype=torch.long, device=x.device)
            if y.shape != (x.shape[0],):
                raise ValueError(f"y must have shape ({x.shape[0]},), got {tuple(y.shape)}")
            if int(y.min()) < 0 or int(y.max()) > cfg.num_classes:
                raise ValueError(
                    f"labels y must be in [0, {cfg.num_classes}] ({cfg.num_classes} = "
                    f"unconditional), got range [{int(y.min())}, {int(y.max())}]"
                )
            emb = emb + self.class_embed(y)
        elif y is not None:
            raise ValueError("y was given but this UNet has num_classes=None")

        h = self.conv_in(x)
        skips = [h]
        for blocks, attns, down in zip(
            self.down_blocks, self.down_attns, self.downsamplers, strict=True
        ):
            for block, attn in zip(blocks, attns, strict=True):
                h = attn(block(h, emb))
                skips.append(h)
            if not isinstance(down, nn.Identity):
                h = down(h)
                skips.append(h)
        h = self.mid_block2(self.mid_attn(self.mid_block1(h, emb)), emb)
        for blocks, attns, up in zip(self.up_blocks, self.up_attns, self.upsamplers, strict=True):
            for block, attn in zip(blocks, attns, strict=True):
                h = attn(block(torch.cat([h, skips.pop()], dim=1), emb))  # (B, C + C_skip, H, W)
            h = up(h)
        return self.conv_out(F.silu(self.norm_out(h)))
