"""Benchmark: the chapter's 10.3.5 table, measured on the course's comparison LDMs.

For each of ``digits-cmp-{pixel,f4,f8,f16}`` (one UNet design and one training budget on
pixels or on the latents of the f = 4, 8, 16 digit autoencoders) it measures, side by side
in this one run:

- UNet FLOPs per denoising step and per training step (torch.utils.flop_counter);
- median wall time of one training step (batch 32) and of sampling 100 digits
  (DDIM, 50 steps, guidance 2);
- conditional accuracy of the independent classifier, Frechet distance on the course
  feature net against the 360 test digits, and within-class diversity;

and prints the speed-ups and FLOP ratios relative to pixel space next to the chapter's
claims (f = 4: 10-15x, f = 8: 40-60x, f = 16: 150-200x).

    python benchmarks/ldm_quality_vs_efficiency.py [--weights-dir DIR] [--samples 100]
"""

from __future__ import annotations

import argparse

import torch

from ldm_teach.metrics import count_flops, time_training_step
from ldm_teach.pretrained import available, load_latent_diffusion
from ldm_teach.pretrained.recipes import measure_ldm_samples

NAMES = ("digits-cmp-pixel", "digits-cmp-f4", "digits-cmp-f8", "digits-cmp-f16")
CHAPTER = {"digits-cmp-f4": "10-15x", "digits-cmp-f8": "40-60x", "digits-cmp-f16": "150-200x"}


def measure(name: str, args) -> dict:
    """FLOPs, step and sampling time, and sample quality of one comparison LDM."""
    ldm = load_latent_diffusion(name, args.weights_dir)
    shape = (32, *ldm.latent_shape(32))
    z = torch.randn(shape)
    t = torch.randint(0, 1000, (32,))
    labels = torch.randint(0, 10, (32,))
    flops = count_flops(lambda: ldm.unet(z, t, labels), backward=False)
    step_s = time_training_step(ldm.unet, lambda m: m(z, t, labels).pow(2).mean(), repeats=5)
    m = measure_ldm_samples(ldm, args.steps, 2.0, seed=0, per_class=args.samples // 10)
    return {
        "name": name, "latent": "x".join(map(str, shape[1:])), "gflop": flops / 1e9,
        "step_ms": 1e3 * step_s, "sample_s": m["sampling_wall_s"],
        "accuracy": m["classifier_accuracy"], "fd": m["frechet_distance"],
        "diversity": m["within_class_diversity"],
    }


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
    rows = [measure(name, args) for name in names]
    base = next((r for r in rows if r["name"] == "digits-cmp-pixel"), None)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.samples} samples, "
          f"{args.steps} DDIM steps, guidance 2")
    print(f"{'model':18}{'input':>9}{'GFLOP':>8}{'FLOP x':>8}{'ms/step':>9}{'step x':>8}"
          f"{'sample s':>9}{'sample x':>9}{'acc':>6}{'FD':>8}{'div':>7}  chapter")
    for r in rows:
        fx = base["gflop"] / r["gflop"] if base else float("nan")
        sx = base["step_ms"] / r["step_ms"] if base else float("nan")
        px = base["sample_s"] / r["sample_s"] if base else float("nan")
        print(f"{r['name']:18}{r['latent']:>9}{r['gflop']:8.3f}{fx:8.1f}{r['step_ms']:9.1f}"
              f"{sx:8.1f}{r['sample_s']:9.1f}{px:9.1f}{r['accuracy']:6.2f}{r['fd']:8.2f}"
              f"{r['diversity']:7.3f}  {CHAPTER.get(r['name'], '')}")


if __name__ == "__main__":
    main()
