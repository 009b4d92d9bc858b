"""The ``ldm-teach`` command.

ldm-teach train NAME [--steps N] [--out-dir DIR] [--overwrite]   reproduce a shipped checkpoint
ldm-teach demo [--out PATH] [--num-samples N] [--guidance-scale W] [--steps S]
ldm-teach generate PROMPT [--negative-prompt P] [--guidance-scale W] [--steps S] [--seed N]
ldm-teach run-notebooks NOTEBOOK...                               execute in place (outputs kept)
ldm-teach info                                                   list shipped checkpoints
ldm-teach seal-cards [NAME...] [--weights-dir DIR] [--accept-edits]  verify and seal cards

Output locations are checked before the work starts; every file is written atomically
(a temporary file renamed over the target), so an error, a full disk or Ctrl-C never
leaves a half-written file. Exit status: 0 done, 2 a mistake in what was asked (one line
on stderr), 1 another error reading or writing files (or a checkpoint failing its SHA-256
or its autoencoder pin, one line), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
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
    # the recipe checks the output location (a folder, writable, no checkpoint to
    # overwrite) before it trains
    card = train_recipe(
        args.name,
        Path(args.out_dir) if args.out_dir else None,
        args.steps,
        args.overwrite,
        progress=not args.no_progress,
        command=args.command_line,
    )
    if card["kind"] == "feature_net":
        result = f"test accuracy {card['metrics_test']['accuracy']:.1%}"
    elif card["kind"] in ("autoencoder_kl", "autoencoder_vq"):
        result = (
            f"test PSNR {card['metrics_test']['psnr_db']:.2f} dB, "
            f"SSIM {card['metrics_test']['ssim']:.4f}"
        )
    else:
        result = f"classifier accuracy {card['metrics']['classifier_accuracy']:.1%} on 100 samples"
    print(f"{args.name}: {result}, wall time {card['wall_time_s']:.0f} s")
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


#: largest --seed (torch.Generator.manual_seed takes a signed 64-bit integer)
MAX_SEED = 2**63 - 1
#: largest --num-samples of the demo (sampled in one batch: under 1 GB at 1000)
MAX_DEMO_SAMPLES = 1000


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an integer in [0, 2**63-1], got {text!r}"
        ) from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2**63-1], got {text}")
    return value


def _guidance(text: str) -> float:
    value = float(text)
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


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


def _cmd_info(args: argparse.Namespace) -> int:
    from ldm_teach.pretrained import (
        REGISTRY,
        WEIGHTS_DIR,
        ParentMismatchError,
        available,
        load_card,
    )
    from ldm_teach.pretrained.registry import check_autoencoder_pin
    from ldm_teach.training.checkpoint import sha256_file

    present = set(available())
    for name, desc in REGISTRY.items():
        if name not in present:
            print(f"{name:14s} missing    {desc}\n{'':14s} make it: ldm-teach train {name}")
            continue
        try:
            card = load_card(name)
            digest = sha256_file(WEIGHTS_DIR / f"{name}.safetensors")
            if digest != card["sha256"]:
                raise ValueError(
                    f"{name}.safetensors has SHA-256 {digest}, its card "
                    f"records {card['sha256']}: the file is corrupted"
                )
            if card.get("kind") == "latent_diffusion":  # and trained on this autoencoder?
                check_autoencoder_pin(card)
        except (ValueError, OSError, ParentMismatchError) as err:
            print(f"{name:14s} damaged    {desc}\n{'':14s} {err}")
            continue
        size = (WEIGHTS_DIR / f"{name}.safetensors").stat().st_size / 1e6
        print(f"{name:14s} {size:5.2f} MB  {desc}\n{'':14s} made by: {card['command']}")
    return 0


def _cmd_seal_cards(args: argparse.Namespace) -> int:
    from ldm_teach.pretrained import ChecksumError, ParentMismatchError, seal_cards

    try:
        done = seal_cards(args.names or None, args.weights_dir, accept_edits=args.accept_edits)
    except (ChecksumError, ParentMismatchError) as err:
        raise ValueError(str(err)) from err
    for name, what in done:
        print(f"{name}: {what}")
    if not done:
        print("no checkpoints found")
    return 0


def _cmd_run_notebooks(args: argparse.Namespace) -> int:
    from ldm_teach.viz.steppers import STATIC_ENV

    # the kernels inherit this process's environment: without --widgets the stored notebook
    # shows the steppers' static figures (readable on the web); the caller's value is
    # restored afterwards
    previous = os.environ.get(STATIC_ENV)
    if args.widgets:
        os.environ.pop(STATIC_ENV, None)
    else:
        os.environ[STATIC_ENV] = "1"
    try:
        return _execute_notebooks(args)
    finally:
        if previous is None:
            os.environ.pop(STATIC_ENV, None)
        else:
            os.environ[STATIC_ENV] = previous


def _execute_notebooks(args: argparse.Namespace) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    from ldm_teach.training.checkpoint import atomic_write_text, check_output_file

    paths = [Path(name) for name in args.notebooks]
    notebooks = []
    for path in paths:  # all of them, read and validated, before executing any
        if not path.is_file() or path.suffix != ".ipynb":
            print(f"ldm-teach run-notebooks: {path} is not a notebook file", file=sys.stderr)
            return 2
        check_output_file(path, what="notebook", overwrite=True)
        try:
            notebooks.append(nbformat.read(path, as_version=4))
        except OSError:
            raise
        except Exception as err:  # not JSON, or JSON that is not a notebook (jsonschema)
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            print(
                f"ldm-teach run-notebooks: {path} is not a valid notebook ({first})",
                file=sys.stderr,
            )
            return 2
    for path, nb in zip(paths, notebooks, strict=True):
        t0 = time.perf_counter()
        client = NotebookClient(
            nb,
            timeout=args.cell_timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )
        try:
            client.execute()
        except CellExecutionError as err:  # a cell raised: the file is left as it was
            name = getattr(err, "ename", None) or type(err).__name__
            print(
                f"ldm-teach run-notebooks: {path}: a cell raised {name} "
                f"({getattr(err, 'evalue', '')}); the notebook was not changed",
                file=sys.stderr,
            )
            return 1
        except DeadKernelError as err:  # the kernel died (os._exit, out of memory)
            print(
                f"ldm-teach run-notebooks: {path}: the kernel died ({err}); the notebook "
                "was not changed",
                file=sys.stderr,
            )
            return 1
        except TimeoutError:
            print(
                f"ldm-teach run-notebooks: {path}: a cell ran longer than --cell-timeout "
                f"{args.cell_timeout} s; the notebook was not changed",
                file=sys.stderr,
            )
            return 1
        # the whole file, source cells kept, as nbformat.write would; atomically
        text = nbformat.writes(nb)
        atomic_write_text(path, text if text.endswith("\n") else text + "\n")
        print(f"{path}: executed in {time.perf_counter() - t0:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ldm-teach",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="The ldm-teach course tools: reproduce the shipped models, run the demo, "
        "execute notebooks, build and grade exercises.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "train",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="train a shipped checkpoint from scratch (recipe by name)",
    )
    p.add_argument(
        "name", help="a recipe name, e.g. digits-kl-f4 (an unknown name prints the full list)"
    )
    p.add_argument(
        "--steps", type=_positive_int, default=None, help="override the recipe's number of steps"
    )
    p.add_argument(
        "--out-dir",
        default=None,
        help="folder for NAME.safetensors and NAME.json, checked before training (default: "
        "the package's weights folder)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "demo",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="sample digits from the shipped LDM and score them",
    )
    p.add_argument("--out", default="outputs/demo_digits.png", help="PNG grid to write")
    p.add_argument(
        "--num-samples", type=int, default=100, help=f"a multiple of 10, at most {MAX_DEMO_SAMPLES}"
    )
    p.add_argument(
        "--guidance-scale",
        type=_guidance,
        default=2.0,
        help="classifier-free guidance w: 0 = unconditional, 1 = plain "
        "conditional, > 1 = pushed further towards the label",
    )
    p.add_argument(
        "--steps", type=_positive_int, default=50, help="DDIM steps, 1 to 1000 (the training steps)"
    )
    p.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed of the initial noise, an integer in [0, 2**63-1]",
    )
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("run-notebooks", help="execute notebooks in place, storing outputs")
    p.add_argument("notebooks", nargs="+", help="paths of .ipynb files")
    p.add_argument("--cell-timeout", type=_positive_int, default=600, help="seconds per cell")
    p.add_argument(
        "--widgets",
        action="store_true",
        help="store the steppers' live widgets instead of their static figures (without it, "
        "LDM_TEACH_STATIC_WIDGETS=1 is set so the stored notebook reads well on the web)",
    )
    p.set_defaults(func=_cmd_run_notebooks)

    from ldm_teach.grading import add_grading_parsers

    add_grading_parsers(sub)

    from ldm_teach.cli_generate import add_generate_parser

    add_generate_parser(sub, _positive_int, _seed, _guidance)

    p = sub.add_parser("info", help="list the shipped checkpoints")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "seal-cards",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="verify checkpoints saved by an earlier version and seal their cards",
        description="Check each card's weights against its SHA-256, pin a latent diffusion "
        "card to its autoencoder's weights where it lacks the pin, and write the card's own "
        "SHA-256 (card_sha256), so that a later edit is detected on load. Sealed cards are "
        "left alone; an edited sealed card is resealed only with --accept-edits.",
    )
    p.add_argument("names", nargs="*", help="checkpoint names (default: all in the folder)")
    p.add_argument(
        "--weights-dir",
        default=None,
        help="folder of the checkpoints (default: the package's weights folder)",
    )
    p.add_argument(
        "--accept-edits",
        action="store_true",
        help="reseal sealed cards whose content was edited deliberately",
    )
    p.set_defaults(func=_cmd_seal_cards)
    return parser


def _describe(err: OSError) -> str:
    """One line for an OSError: our own messages as they are, the system's with the file."""
    if err.strerror and err.filename:
        return f"{err.filename}: {err.strerror}"
    return str(err)


def main(argv: list[str] | None = None) -> int:
    """Run ``ldm-teach ARGV``; returns the exit status (0 done, 2 a mistake in what was
    asked, 1 another error reading or writing files, 130 interrupted by Ctrl-C), printing
    errors as one line on stderr. ``argparse`` exits (SystemExit 2) for a malformed option."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    # recorded on the cards of trained checkpoints, so anyone can rerun exactly this
    args.command_line = "ldm-teach " + shlex.join(argv)
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except KeyboardInterrupt:
        # every file is written atomically: none is left half-written
        print(
            f"ldm-teach {args.command}: interrupted; no file was left half-written", file=sys.stderr
        )
        return 130
    except BrokenPipeError:
        # the reader went away (`ldm-teach info | head`): stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (
        FileExistsError,
        FileNotFoundError,
        IsADirectoryError,
        NotADirectoryError,
        PermissionError,
        ValueError,
    ) as err:
        # a mistake in what was asked for: one line, no traceback
        print(
            f"ldm-teach {args.command}: {_describe(err) if isinstance(err, OSError) else err}",
            file=sys.stderr,
        )
        return 2
    except OSError as err:  # the disk is full, a device failed, ...
        print(f"ldm-teach {args.command}: {_describe(err)}", file=sys.stderr)
        return 1
    except RuntimeError as err:
        # a checkpoint that fails its SHA-256 or its autoencoder pin: one line, not a traceback
        from ldm_teach.pretrained import ChecksumError, ParentMismatchError

        if not isinstance(err, (ChecksumError, ParentMismatchError)):
            raise
        print(f"ldm-teach {args.command}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
