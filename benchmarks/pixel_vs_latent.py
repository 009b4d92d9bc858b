"""Benchmark: one UNet training step in pixel space vs latent space, side by side.

Same UNet widths and depth; inputs are RGB images at SIZE x SIZE, or the 4-channel latents
an f = 4 / 8 / 16 autoencoder would produce from them. Prints FLOPs (torch.utils.flop_counter),
median step time, and both ratios relative to pixel space, all measured in this one run.

    python benchmarks/pixel_vs_latent.py [--size 128] [--batch 8] [--repeats 5]
"""

from __future__ import annotations

import argparse

import torch

from ldm_teach.metrics import unet_step_cost
from ldm_teach.models import small_unet


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cases = [("pixels", 3, args.size)] + [
        (f"latent f={f}", 4, args.size // f) for f in (4, 8, 16) if args.size // f >= 4
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    print(
        f"{'input':<14}{'shape':>12}{'GFLOP':>10}{'ms/step':>10}{'FLOP ratio':>12}{'speed-up':>10}"
    )
    base = None
    for name, c, side in cases:
        # the same UNet shape for every input (ldm_teach.models.small_unet, as in 10.1.1)
        cost = unet_step_cost(small_unet(c), c, side, batch=args.batch, repeats=args.repeats)
        flops, seconds = cost["flops"], cost["step_s"]
        base = base or (flops, seconds)
        print(
            f"{name:<14}{f'{c}x{side}x{side}':>12}{flops / 1e9:>10.2f}{seconds * 1e3:>10.1f}"
            f"{base[0] / flops:>11.1f}x{base[1] / seconds:>9.1f}x"
        )


if __name__ == "__main__":
    main()
