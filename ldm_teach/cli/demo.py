"""``ldm-teach demo``: sample a grid of digits from the shipped latent diffusion model
(``digits-ldm``, DDIM with classifier-free guidance) and score it with an independent
classifier, one row per digit.
"""

from __future__ import annotations

import argparse
import sys
import time

#: largest --num-samples of the demo (sampled in one batch: under 1 GB at 1000)
MAX_DEMO_SAMPLES = 1000


def _cmd_demo(args: argparse.Namespace) -> int:
    import torch

    from ldm_teach.device import default_device
    from ldm_teach.metrics import DigitsClassifier
    from ldm_teach.pretrained import load_latent_diffusion
    from ldm_teach.training.checkpoint import check_output_file
    from ldm_teach.viz import save_image_grid

    if not 10 <= args.num_samples <= MAX_DEMO_SAMPLES or args.num_samples % 10:
        print(
            "ldm-teach demo: --num-samples must be a multiple of 10 (one row per digit) from "
            f"10 to {MAX_DEMO_SAMPLES}, got {args.num_samples}",
            file=sys.stderr,
        )
        return 2
    out = check_output_file(args.out, what="--out", overwrite=args.overwrite)
    from ldm_teach.viz.grids import image_format

    try:
        image_format(out)  # before sampling, not after
    except ValueError:
        print(
            f"ldm-teach demo: --out must end in an image suffix such as .png, got {out}",
            file=sys.stderr,
        )
        return 2
    t0 = time.perf_counter()
    ldm = load_latent_diffusion("digits-ldm", device=default_device())
    per_class = args.num_samples // 10
    y = torch.arange(10).repeat_interleave(per_class)
    gen = torch.Generator().manual_seed(args.seed)
    samples = ldm.sample(
        args.num_samples,
        32,
        y,
        guidance_scale=args.guidance_scale,
        num_inference_steps=args.steps,
        generator=gen,
        progress=not args.no_progress,
    ).cpu()
    classifier = DigitsClassifier.fit_default()
    pred = classifier.predict(samples)
    acc = float((pred == y).float().mean())
    # one row per digit: reorder (class-major) into rows of per_class samples
    save_image_grid(samples, out, nrow=per_class, overwrite=True)  # --out checked above
    per_digit = [(pred[y == d] == d).float().mean().item() for d in range(10)]
    print(f"wrote {out} ({args.num_samples} samples, rows = digits 0-9)")
    print("per-digit accuracy: " + " ".join(f"{d}:{a:.0%}" for d, a in enumerate(per_digit)))
    print(
        f"independent classifier accuracy: {acc:.1%} ({int((pred == y).sum())}/{len(y)}), "
        f"guidance_scale={args.guidance_scale}, DDIM steps={args.steps}, seed={args.seed}"
    )
    print(f"time: {time.perf_counter() - t0:.1f} s")
    return 0
