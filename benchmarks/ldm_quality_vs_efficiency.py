"""Benchmark: the chapter's 10.3.5 table, measured on the course's comparison LDMs.

For each of ``digits-cmp-{pixel,f4,f8,f16}`` (one UNet design and one training budget on
pixels or on the latents of the f = 4, 8, 16 digit autoencoders) it measures, side by side
in this one run, with :func:`ldm_teach.metrics.measure_efficiency` (the function notebook
10.3 calls):

- UNet FLOPs per denoising step of a batch of 32 (torch.utils.flop_counter);
- median wall time of one training step (batch 32) and of sampling 10 digits
  (DDIM, 25 steps, guidance 2);

and, with :func:`ldm_teach.metrics.measure_ldm_samples`, the quality of ``--samples``
samples (DDIM ``--steps`` steps, guidance 2): conditional accuracy of the independent
classifier, Frechet distance on the course feature net against the 360 test digits, and
within-class diversity. It prints the savings relative to pixel space next to the chapter's
claims (f = 4: 10-15x, f = 8: 40-60x, f = 16: 150-200x).

    python benchmarks/ldm_quality_vs_efficiency.py [--weights-dir DIR] [--samples 100]
"""

from __future__ import annotations

import argparse

import torch

from ldm_teach.metrics import measure_efficiency, measure_ldm_samples, relative_to
from ldm_teach.pretrained import available, load_feature_net, load_latent_diffusion
from ldm_teach.viz import table

NAMES = ("digits-cmp-pixel", "digits-cmp-f4", "digits-cmp-f8", "digits-cmp-f16")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights-dir", default=None)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    if args.samples < 20 or args.samples > 2000 or args.samples % 10:
        parser.error("--samples must be a multiple of 10 in [20, 2000] (two to 200 per digit)")
    names = [n for n in NAMES if n in available(args.weights_dir)]
    missing = sorted(set(NAMES) - set(names))
    if missing:
        print("not trained yet (ldm-teach train NAME):", ", ".join(missing))
    if "digits-cmp-pixel" not in names:
        parser.error("the pixel-space baseline digits-cmp-pixel is needed for the ratios")
    feature_net = load_feature_net("digits-features")
    models = {name: load_latent_diffusion(name, args.weights_dir) for name in names}
    cost = relative_to({n: measure_efficiency(m) for n, m in models.items()}, "digits-cmp-pixel")
    quality = {
        n: measure_ldm_samples(
            m, args.steps, 2.0, feature_net=feature_net, seed=0, per_class=args.samples // 10
        )
        for n, m in models.items()
    }
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; quality of "
        f"{args.samples} samples, {args.steps} DDIM steps, guidance 2"
    )
    print(
        table(
            [
                (
                    n,
                    "x".join(map(str, r["latent_shape"])),
                    r["flops"] / 1e9,
                    r["flop_ratio"],
                    1e3 * r["train_step_s"],
                    r["step_ratio"],
                    r["sampling_s"],
                    r["sampling_ratio"],
                    r["chapter"],
                    quality[n]["classifier_accuracy"],
                    quality[n]["frechet_distance"],
                    quality[n]["within_class_diversity"],
                )
                for n, r in cost.items()
            ],
            columns=(
                "model",
                "input",
                "GFLOP",
                "FLOP x",
                "ms/step",
                "step x",
                "sample s",
                "sample x",
                "chapter",
                "acc",
                "FD",
                "div",
            ),
            formats={
                "GFLOP": ".3f",
                "FLOP x": ".1f",
                "ms/step": ".1f",
                "step x": ".1f",
                "sample s": ".2f",
                "sample x": ".1f",
                "acc": ".2f",
                "FD": ".2f",
                "div": ".3f",
            },
        )
    )


if __name__ == "__main__":
    main()
