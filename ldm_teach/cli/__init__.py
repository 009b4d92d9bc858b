"""The ``ldm-teach`` command.

ldm-teach train NAME [--steps N] [--out-dir DIR] [--overwrite] [--data-parallel]
                                                                 reproduce a shipped checkpoint
ldm-teach demo [--out PATH] [--num-samples N] [--guidance-scale W] [--steps S]
ldm-teach generate PROMPT [--negative-prompt P] [--guidance-scale W] [--steps S] [--seed N]
ldm-teach export-onnx MODEL DIR [--overwrite]                    ONNX graphs + parity figures
ldm-teach run-notebooks NOTEBOOK...                               execute in place (outputs kept)
ldm-teach info                                                   list shipped checkpoints
ldm-teach seal-cards [NAME...] [--weights-dir DIR] [--accept-edits]  verify and seal cards

Output locations are checked before the work starts; every file is written atomically
(a temporary file renamed over the target), so an error, a full disk or Ctrl-C never
leaves a half-written file. Exit status: 0 done, 2 a mistake in what was asked (one line
on stderr), 1 another error reading or writing files (or a checkpoint failing its SHA-256
or its autoencoder pin, one line), 130 interrupted.

Each command is a module of this package (``train``, ``demo``, ``generate``,
``export_onnx``, ``notebooks``, ``checkpoints``; the grading commands come from
:mod:`ldm_teach.grading`); this one builds the parser and runs :func:`main`.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from ldm_teach.cli.checkpoints import _cmd_info, _cmd_seal_cards
from ldm_teach.cli.demo import MAX_DEMO_SAMPLES, _cmd_demo
from ldm_teach.cli.notebooks import _cmd_run_notebooks
from ldm_teach.cli.train import _cmd_train


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


#: largest --seed (torch.Generator.manual_seed takes a signed 64-bit integer)
MAX_SEED = 2**63 - 1


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
    p.add_argument(
        "--data-parallel",
        action="store_true",
        help="train a latent-diffusion recipe on all processes of a launch: torchrun "
        "--nproc_per_node 2 -m ldm_teach.cli train NAME --data-parallel",
    )
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

    from ldm_teach.cli.generate import add_generate_parser

    add_generate_parser(sub, _positive_int, _seed, _guidance)

    from ldm_teach.cli.export_onnx import add_export_onnx_parser

    add_export_onnx_parser(sub)

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
