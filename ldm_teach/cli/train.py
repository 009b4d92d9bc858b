"""``ldm-teach train NAME``: reproduce a shipped checkpoint from its recipe
(:mod:`ldm_teach.pretrained.recipes`) with :func:`ldm_teach.pretrained.trainers.train_recipe`,
and print the card's headline measurement.

``--data-parallel`` trains a latent-diffusion recipe on every process of a distributed
launch (course Sec. 10.5), through Accelerate (``train(..., accelerator=)``); the recipe's
batch size is the global batch, split evenly over the processes::

    # two CPU processes (gloo), one machine
    torchrun --nproc_per_node 2 -m ldm_teach.cli train digits-ldm --data-parallel \
        --out-dir runs/dp
    # the GPUs of one machine (NCCL), e.g. 4
    accelerate launch --num_processes 4 -m ldm_teach.cli train digits-ldm --data-parallel \
        --out-dir runs/dp

``accelerate launch --cpu --num_processes 2`` starts one process, not two: use torchrun on
CPUs. The main process measures and writes NAME.safetensors and NAME.json; the weights load
in one process like any others.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def _cmd_train(args: argparse.Namespace) -> int:
    from ldm_teach.pretrained.recipes import all_recipes
    from ldm_teach.pretrained.trainers import train_recipe

    if args.name not in all_recipes():
        known = ", ".join(sorted(all_recipes()))
        print(
            f"ldm-teach train: unknown name {args.name!r}; choose one of: {known}", file=sys.stderr
        )
        return 2
    if args.out_dir is not None and not args.out_dir.strip():
        print(
            "ldm-teach train: --out-dir must name a folder, got an empty string (leave it "
            "out for the package's weights folder)",
            file=sys.stderr,
        )
        return 2
    accelerator, command = None, args.command_line
    if args.data_parallel:
        accelerator, command = _accelerator(args)
    # the recipe checks the output location (a folder, writable, no checkpoint to
    # overwrite) before it trains
    card = train_recipe(
        args.name,
        Path(args.out_dir) if args.out_dir else None,
        args.steps,
        args.overwrite,
        progress=not args.no_progress,
        command=command,
        accelerator=accelerator,
    )
    if card is None:  # a data-parallel process other than the main one
        return 0
    if card["kind"] == "feature_net":
        result = f"test accuracy {card['metrics_test']['accuracy']:.1%}"
    elif card["kind"] in ("autoencoder_kl", "autoencoder_vq"):
        result = (
            f"test PSNR {card['metrics_test']['psnr_db']:.2f} dB, "
            f"SSIM {card['metrics_test']['ssim']:.4f}"
        )
    elif card["kind"] == "caption_judge":
        result = f"test caption accuracy {card['metrics_test']['caption']:.1%} on real renders"
    elif card["kind"] == "mini_clip":
        result = f"retrieval top-1 {card['metrics_test']['retrieval_top1']:.1%}"
    elif card["kind"] == "text_to_image":
        m = card["metrics"]
        result = (
            f"caption accuracy {m['seen']['caption']:.1%} seen, "
            f"{m['held_out']['caption']:.1%} held out"
        )
    else:
        result = f"classifier accuracy {card['metrics']['classifier_accuracy']:.1%} on 100 samples"
    print(f"{args.name}: {result}, wall time {card['wall_time_s']:.0f} s")
    return 0


def _accelerator(args: argparse.Namespace):
    """The Accelerator of this process (on the CPU when there is no GPU) and the command line
    the card records: the launch, e.g. ``torchrun --nproc_per_node 2 -m ldm_teach.cli ...``."""
    import torch
    from accelerate import Accelerator

    from ldm_teach.pretrained.recipes import LDM_RECIPES

    if args.name not in LDM_RECIPES:  # before the process group starts
        raise ValueError(
            f"--data-parallel is for the latent-diffusion recipes "
            f"({', '.join(sorted(LDM_RECIPES))}); {args.name!r} is not one"
        )
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    argv = shlex.split(args.command_line)[1:]  # without "ldm-teach"
    command = (
        f"torchrun --nproc_per_node {accelerator.num_processes} -m ldm_teach.cli "
        + shlex.join(argv)
    )
    return accelerator, command
