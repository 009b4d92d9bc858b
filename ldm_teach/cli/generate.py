"""``ldm-teach generate PROMPT``: text to image with the shipped text-to-image model
(``shapes-t2i``: DDIM with classifier-free guidance, optionally a negative prompt), written
as a PNG; offline, a few seconds on a CPU. The independent caption judge reads the image
back and prints what it sees.

``--model FOLDER`` runs a diffusers-format Stable Diffusion 1.x / 2.x folder instead
(``ldm_teach.interop.load_stable_diffusion``: the course's own modules holding its weights),
on the GPU in float16 when there is one, else on the CPU in float32.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_generate_parser(sub, positive_int, seed, guidance) -> None:
    """The ``generate`` subcommand's options (the type parsers come from the CLI)."""
    p = sub.add_parser(
        "generate",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="text to image with the shipped text-to-image model (a PNG)",
        description="Sample an image from a caption in the course's vocabulary, e.g. "
        '"a large blue triangle at the bottom right" (shapes: circle, square, triangle; '
        "colours: red, green, blue, yellow; small or large; 9 positions).",
    )
    p.add_argument("prompt", help="the caption, in the model's vocabulary")
    p.add_argument("--negative-prompt", default=None, help="what to steer away from (e.g. red)")
    p.add_argument(
        "--guidance-scale", type=guidance, default=3.0, help="classifier-free guidance w"
    )
    p.add_argument(
        "--guidance-rescale", type=float, default=0.0, help="guidance rescale phi in [0, 1]"
    )
    p.add_argument("--steps", type=positive_int, default=25, help="DDIM steps")
    p.add_argument("--seed", type=seed, default=0, help="seed of the initial noise")
    p.add_argument(
        "--num-images", type=positive_int, default=1, help="images in the grid, at most 64"
    )
    p.add_argument(
        "--model",
        default="shapes-t2i",
        help="a shipped text-to-image checkpoint, or a diffusers Stable Diffusion folder",
    )
    p.add_argument("--out", default="outputs/generated.png", help="PNG to write")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=_cmd_generate)


def _cmd_generate(args: argparse.Namespace) -> int:
    import torch

    from ldm_teach.data.shapes import attribute_values
    from ldm_teach.device import default_device
    from ldm_teach.pretrained.text_registry import load_caption_judge, load_text_to_image
    from ldm_teach.training.checkpoint import check_output_file
    from ldm_teach.viz.grids import image_format

    if args.num_images > 64:
        raise ValueError(f"--num-images must be at most 64, got {args.num_images}")
    out = check_output_file(args.out, what="--out", overwrite=args.overwrite)
    try:
        image_format(out)  # before sampling, not after
    except ValueError:
        raise ValueError(f"--out must end in an image suffix such as .png, got {out}") from None
    t0 = time.perf_counter()
    folder = Path(args.model)
    if (folder / "model_index.json").is_file():
        return _generate_stable_diffusion(args, folder, out, t0)
    model = load_text_to_image(args.model, device=default_device())
    model.tokenizer(args.prompt)  # an unknown word is reported before any sampling
    images = _sample_and_save(model, args, out, progress=False)
    judge = load_caption_judge("shapes-judge")
    with torch.no_grad():
        read = {a: logits.argmax(1)[0].item() for a, logits in judge(images[:1]).items()}
    values = attribute_values()
    seen = ", ".join(f"{a} {values[a][i]}" for a, i in read.items())
    print(f"the judge reads the first image as: {seen}")
    print(f"time: {time.perf_counter() - t0:.1f} s")
    return 0


def _generate_stable_diffusion(args: argparse.Namespace, folder: Path, out: Path, t0: float) -> int:
    """``generate`` with a diffusers Stable Diffusion folder (no judge: it reads shapes)."""
    import torch

    from ldm_teach.device import default_device
    from ldm_teach.interop import load_stable_diffusion

    device = default_device()
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    model = load_stable_diffusion(folder, device=device, dtype=dtype)
    print(f"loaded {folder} ({model.image_size} px, {device}, {str(dtype).removeprefix('torch.')})")
    _sample_and_save(model, args, out, progress=True)
    print(f"time: {time.perf_counter() - t0:.1f} s")
    return 0


def _sample_and_save(model, args: argparse.Namespace, out: Path, progress: bool):
    """Sample the prompt ``--num-images`` times and write the grid to ``out`` (checked for
    overwriting before sampling); returns the images (N, 3, H, W) in [-1, 1] on the CPU."""
    import torch

    from ldm_teach.viz import save_image_grid

    images = model.sample(
        [args.prompt] * args.num_images,
        negative_prompt=args.negative_prompt,
        guidance_scale=args.guidance_scale,
        guidance_rescale=args.guidance_rescale,
        num_inference_steps=args.steps,
        generator=torch.Generator().manual_seed(args.seed),
        progress=progress,
    ).cpu()
    save_image_grid(images, out, nrow=min(8, args.num_images), overwrite=True)
    print(
        f"wrote {out} ({args.num_images} image{'s' * (args.num_images > 1)}, "
        f"{args.steps} DDIM steps, guidance {args.guidance_scale:g}, seed {args.seed})"
    )
    return images
