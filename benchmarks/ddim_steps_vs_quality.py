"""Benchmark: DDIM steps vs sample quality (course Sec. 10.3.5), with DDPM as the reference.

Samples the same digits (``--per-class`` per class, one seed, guidance 2, η = 0, "leading"
spacing) from one shipped LDM with each number of DDIM steps, plus DDPM's T ancestral
steps, and prints for each: the independent classifier's accuracy, the Fréchet distance on
the course feature net against the 360 test digits, within-class diversity, and the wall
time, measured one after the other in this run.

    python benchmarks/ddim_steps_vs_quality.py [--model digits-cmp-f4] [--per-class 10]
        [--steps 10 25 50 100 1000] [--no-ddpm]
"""

from __future__ import annotations

import argparse

from ldm_teach.argcheck import argparse_type, check_int, check_real
from ldm_teach.metrics import measure_ldm_samples
from ldm_teach.pretrained import available, load_card, load_feature_net, load_latent_diffusion

_positive_int = argparse_type(check_int, lo=1, expected="a positive integer")
_guidance = argparse_type(check_real, lo=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="digits-cmp-f4", help="a shipped latent_diffusion")
    parser.add_argument(
        "--per-class", type=_positive_int, default=10, help="samples per digit class (>= 2)"
    )
    parser.add_argument(
        "--steps",
        type=_positive_int,
        nargs="+",
        default=[10, 25, 50, 100, 1000],
        help="numbers of DDIM steps, each in [1, T]",
    )
    parser.add_argument("--guidance-scale", type=_guidance, default=2.0)
    parser.add_argument("--no-ddpm", action="store_true", help="skip the DDPM reference row")
    parser.add_argument("--weights-dir", default=None)
    args = parser.parse_args()
    if args.model not in available(args.weights_dir):
        where = args.weights_dir or "the package's weights folder"
        parser.error(f"--model {args.model!r} is not a checkpoint in {where}")
    if load_card(args.model, args.weights_dir).get("kind") != "latent_diffusion":
        parser.error(f"--model {args.model!r} is not a latent diffusion model (an autoencoder?)")
    if args.per_class < 2:
        parser.error("--per-class must be >= 2 (diversity needs two samples of a class)")
    ldm = load_latent_diffusion(args.model, args.weights_dir)
    feature_net = load_feature_net("digits-features")
    T = ldm.schedule.num_train_timesteps
    bad = [n for n in args.steps if n > T]
    if bad:
        parser.error(f"--steps must be in [1, {T}], got {bad}")
    print(f"{args.model}: {10 * args.per_class} samples, guidance {args.guidance_scale}, seed 1234")
    print(f"{'sampler':>8} {'steps':>6} {'accuracy':>9} {'FD':>8} {'diversity':>10} {'seconds':>8}")
    rows = [("ddim", n) for n in args.steps] + ([] if args.no_ddpm else [("ddpm", T)])
    for sampler, n in rows:
        m = measure_ldm_samples(
            ldm,
            n,
            args.guidance_scale,
            per_class=args.per_class,
            sampler=sampler,
            feature_net=feature_net,
        )
        print(
            f"{sampler:>8} {n:6d} {m['classifier_accuracy']:9.1%} {m['frechet_distance']:8.3f} "
            f"{m['within_class_diversity']:10.3f} {m['sampling_wall_s']:8.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
