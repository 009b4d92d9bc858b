"""DeepCache: reuse the deep features of the UNet between denoising steps
(Ma, Fang & Wang 2023, arXiv:2312.00858, Sec. 3.2-3.3; course Sec. 10.4.4).

Adjacent denoising steps change the UNet's deep, low-resolution features very little
(the paper's Fig. 2), while the shallow, full-resolution path carries the fine detail
through the skip connections. DeepCache therefore splits the UNet at its first level:

    shallow down  = conv_in, the level-0 ResNet blocks (+ attention, conditioning)  -> skips
    deep          = level-0 Downsample, levels 1.., middle block, up levels .., 1,
                    and the level-1 Upsample                                       -> F_deep
    shallow up    = the level-0 up blocks on [F_deep, skips], norm_out, conv_out

and runs, with cache interval k ("N" in the paper's uniform strategy, Sec. 3.3):

    step i with i % k == 0:  the whole UNet; store F_deep
    otherwise:               shallow down, then shallow up on the stored F_deep

so k - 1 steps out of k skip everything below the first level. k = 1 is the plain UNet
(tested exactly). This is the paper's choice of the shallowest branch (its Sec. 3.2 "skip
branch" at the first block), the cheapest and the least exact; a UNet of one level has no
deep part to skip.

A step is recognised by its timestep: the calls of one step share t (guidance in two
calls makes two calls a step, each with its own cache entry), the next step has a smaller
t, and a larger t starts a new sampling run (the step count restarts at 0).

:class:`DeepCacheUNet` wraps a :class:`~ldm_teach.models.UNet` and reuses its submodules:
it owns no parameters. It supports the context-conditioned UNets of text-to-image
(``context``, ``context_mask``, FiLM or cross-attention conditioners), not class labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.argcheck import check_int
from ldm_teach.models import UNet
from ldm_teach.models.unet_inputs import check_forward_inputs
from ldm_teach.nn.embeddings import timestep_embedding
from ldm_teach.nn.film import FiLM
from ldm_teach.nn.transformer import SpatialTransformer


class DeepCacheUNet(nn.Module):
    """A UNet that recomputes its deep features every ``interval`` steps only.

    Args:
        unet: a :class:`~ldm_teach.models.UNet` with at least two levels and no class
            labels (``num_classes=None``).
        interval: k, an int >= 1: the full UNet runs on steps 0, k, 2k, ...
    Forward:
        as ``UNet.forward(x, t, context=..., context_mask=...)``: x (B, C, H, W),
        t (B,) -> (B, out_channels, H, W).
    Attributes:
        full_calls, cached_calls: how many calls ran the whole UNet or the shallow path.
    Raises:
        ValueError: if the UNet is not a UNet, has one level, or takes class labels, or
            interval is not an int >= 1.
    """

    def __init__(self, unet: UNet, interval: int) -> None:
        super().__init__()
        if not isinstance(unet, UNet):
            raise ValueError(f"unet must be a UNet, got {type(unet).__name__}")
        if len(unet.config.channel_mult) < 2 or unet.config.num_classes is not None:
            raise ValueError(
                "unet must have at least two levels (a deep part to cache) and no class "
                f"labels, got channel_mult={unet.config.channel_mult}, "
                f"num_classes={unet.config.num_classes}"
            )
        self.unet = unet
        self.interval = check_int(interval, "interval", lo=1)
        self.reset()

    def reset(self) -> None:
        """Forget the cached features; the next call starts a run at step 0."""
        self.step = 0
        self.call_in_step = 0
        self.last_t: float | None = None
        self.deep: dict[int, Tensor] = {}  # call index within a step -> F_deep
        self.full_calls = self.cached_calls = 0

    def _advance(self, t: Tensor, batch: int) -> bool:
        """Count the step of timestep ``t``; True if the whole UNet must run."""
        now = float(t.flatten()[0])
        if self.last_t is None or now > self.last_t:  # a new sampling run
            self.step, self.call_in_step, self.deep = 0, 0, {}
        elif now < self.last_t:  # the next step of this run
            self.step, self.call_in_step = self.step + 1, 0
        else:  # another call of the same step (guidance in two calls)
            self.call_in_step += 1
        self.last_t = now
        cached = self.deep.get(self.call_in_step)
        return self.step % self.interval == 0 or cached is None or cached.shape[0] != batch

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        context: Tensor | None = None,
        context_mask: Tensor | None = None,
    ) -> Tensor:
        u, cfg = self.unet, self.unet.config
        t, _, context, context_mask, _ = check_forward_inputs(
            cfg, u.conv_in.weight.dtype, u.size_divisor, x, t, None, context, context_mask, None
        )
        full = self._advance(t, x.shape[0])
        emb = u.time_embed(timestep_embedding(t, cfg.base_channels).to(x.dtype))  # (B, E)

        def cond(module: nn.Module, h: Tensor) -> Tensor:
            if isinstance(module, FiLM):
                raise ValueError("DeepCacheUNet supports context conditioning, not FiLM labels")
            if isinstance(module, SpatialTransformer):
                return module(h, context, context_mask)
            return h

        # shallow down: conv_in and the level-0 blocks, (B, C0, H, W) each
        h = u.conv_in(x)
        skips = [h]
        for block, attn, c in zip(u.down_blocks[0], u.down_attns[0], u.down_conds[0], strict=True):
            h = cond(c, attn(block(h, emb)))
            skips.append(h)
        if full:
            h = self._deep(h, emb, cond)  # (B, C1, H, W) after the level-1 Upsample
            self.deep[self.call_in_step] = h
            self.full_calls += 1
        else:
            h = self.deep[self.call_in_step]
            self.cached_calls += 1
        # shallow up: the level-0 up blocks on [F_deep, skip]
        for block, attn, c in zip(u.up_blocks[-1], u.up_attns[-1], u.up_conds[-1], strict=True):
            h = cond(c, attn(block(torch.cat([h, skips.pop()], dim=1), emb)))  # (B, C0, H, W)
        return u.conv_out(F.silu(u.norm_out(h)))

    def _deep(self, h: Tensor, emb: Tensor, cond) -> Tensor:
        """Everything below the first level, as in ``UNet.forward``, with its own skip
        stack (the level-0 skips are the shallow path's)."""
        u = self.unet
        h = u.downsamplers[0](h)
        skips_deep = [h]
        for blocks, attns, conds, down in zip(
            u.down_blocks[1:], u.down_attns[1:], u.down_conds[1:], u.downsamplers[1:], strict=True
        ):
            for block, attn, c in zip(blocks, attns, conds, strict=True):
                h = cond(c, attn(block(h, emb)))
                skips_deep.append(h)
            if not isinstance(down, nn.Identity):
                h = down(h)
                skips_deep.append(h)
        h = u.mid_block2(cond(u.mid_cond, u.mid_attn(u.mid_block1(h, emb))), emb)
        for blocks, attns, conds, up in zip(
            u.up_blocks[:-1], u.up_attns[:-1], u.up_conds[:-1], u.upsamplers[:-1], strict=True
        ):
            for block, attn, c in zip(blocks, attns, conds, strict=True):
                h = cond(c, attn(block(torch.cat([h, skips_deep.pop()], dim=1), emb)))
            h = up(h)
        return h
