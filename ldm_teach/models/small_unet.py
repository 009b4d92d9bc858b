"""The small UNet of the course's cost comparison (Sec. 10.1.1): one network shape for
every input, so that pixels and latents are compared with the same widths and depth.

Widths 32-64-64 (``channel_mult`` (1, 2, 2)), one ResNet block per level, self-attention
at the lowest level only (level 2, four heads), GroupNorm with 16 groups; the UNet itself
is :class:`ldm_teach.models.UNet` (Ho et al. 2020, arXiv:2006.11239, Appendix B).
"""

from __future__ import annotations

import torch

from ldm_teach.argcheck import check_int
from ldm_teach.models.unet import UNet, UNetConfig


def small_unet(channels: int, seed: int = 0) -> UNet:
    """An unconditional :class:`UNet` for inputs with ``channels`` channels, seeded.

    The same configuration whatever ``channels``: only the first and last convolutions
    change, so a FLOP count or a timed step compares inputs, not networks.

    Args:
        channels: channels of the input and of the prediction, an int >= 1 (3 for RGB
            pixels, 4 for the course's latents).
        seed: seeds the initial weights, an int >= 0; the global torch RNG is left as it
            was.
    Returns:
        A float32 UNet in training mode; ``model(x, t)`` maps (B, channels, H, W), H and W
        divisible by 4, to the same shape.
    Raises:
        ValueError: naming ``channels`` or ``seed`` if it is not an int in range.
    """
    channels = check_int(channels, "channels", 1)
    seed = check_int(seed, "seed", 0, 2**63 - 1)
    cfg = UNetConfig(
        in_channels=channels,
        out_channels=channels,
        base_channels=32,
        channel_mult=(1, 2, 2),
        num_res_blocks=1,
        attention_levels=(2,),
        num_heads=4,
        norm_groups=16,
    )
    with torch.random.fork_rng(devices=[]):  # seed the weights, not the caller's RNG
        torch.manual_seed(seed)
        return UNet(cfg)
