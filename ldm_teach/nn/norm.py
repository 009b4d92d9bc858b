"""GroupNorm with a clear error when the channel count does not divide into groups
(Wu & He 2018, arXiv:1803.08494). Every ResNet block and attention layer normalises with it."""

from __future__ import annotations

from torch import nn


def group_norm(channels: int, groups: int = 32, eps: float = 1e-6) -> nn.GroupNorm:
    """Build ``nn.GroupNorm(groups, channels)`` after checking that it can be built.

    Args:
        channels: number of channels C of the (B, C, H, W) input.
        groups: number of groups G; C must be divisible by G.
        eps: added to the variance (1e-6 as in the LDM autoencoders).
    Raises:
        ValueError: if ``channels`` is not a positive multiple of ``groups``.
    """
    if groups <= 0 or channels <= 0 or channels % groups != 0:
        raise ValueError(
            f"GroupNorm needs channels divisible by groups: got channels={channels}, "
            f"groups={groups}; choose base_channels and channel_mult so every width is a "
            f"multiple of norm_groups"
        )
    return nn.GroupNorm(groups, channels, eps=eps, affine=True)


def check_widths(base_channels: int, channel_mult: tuple[int, ...], norm_groups: int) -> None:
    """Check at construction that every level width base_channels * mult can be
    group-normalised, so a bad config fails with a clear message instead of deep in a layer.

    Raises:
        ValueError: naming the first width not divisible by ``norm_groups``.
    """
    for m in channel_mult:
        width = base_channels * m
        if norm_groups <= 0 or width % norm_groups != 0:
            raise ValueError(
                f"width base_channels*mult = {base_channels}*{m} = {width} is not "
                f"divisible by norm_groups={norm_groups}"
            )
