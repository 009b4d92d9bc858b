"""``ldm-teach export-onnx MODEL DIR``: export a shipped text-to-image model to ONNX
(``ldm_teach.deploy.export_onnx``: text encoder, UNet, decoder and ``ldm_onnx.json``), then
check every graph and the sampler against PyTorch with ONNX Runtime and print the max |Δ|
of each (``ldm_teach.deploy.check_onnx``). Exit status 1 if a figure exceeds its tolerance.
"""

from __future__ import annotations

import argparse
import sys
import time

#: max |ONNX Runtime - PyTorch| accepted: one forward pass, and a whole sampling run
GRAPH_TOLERANCE = 1e-4
SAMPLER_TOLERANCE = 1e-4


def add_export_onnx_parser(sub) -> None:
    """The ``export-onnx`` subcommand's options."""
    p = sub.add_parser(
        "export-onnx",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="export a text-to-image model to ONNX and check it against PyTorch",
        description="Write MODEL's text encoder, UNet and decoder as ONNX graphs and the "
        "sampler's settings (ldm_onnx.json) into DIR, then print the largest difference "
        "between ONNX Runtime and PyTorch for each graph and for a whole sampling run. "
        "The folder is sampled without torch by ldm_teach.deploy.OnnxTextToImage.",
    )
    p.add_argument("model", help="a shipped text-to-image checkpoint, e.g. shapes-t2i")
    p.add_argument("dir", help="the output folder (created if missing)")
    p.add_argument("--overwrite", action="store_true", help="replace an export already in DIR")
    p.add_argument(
        "--weights-dir", default=None, help="folder of the checkpoints (default: the package's)"
    )
    p.set_defaults(func=_cmd_export_onnx)


def _cmd_export_onnx(args: argparse.Namespace) -> int:
    from ldm_teach.deploy import check_onnx, export_onnx
    from ldm_teach.pretrained.text_registry import load_text_to_image

    t0 = time.perf_counter()
    model = load_text_to_image(args.model, args.weights_dir)
    written = export_onnx(model, args.dir, overwrite=args.overwrite)
    for path in written.values():
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    gaps = check_onnx(model, args.dir)
    print("max |ONNX Runtime - PyTorch|:")
    bad = []
    for name, gap in gaps.items():
        tol = SAMPLER_TOLERANCE if name == "sampler" else GRAPH_TOLERANCE
        what = "images after sampling" if name == "sampler" else "random inputs"
        print(f"  {name:<13} {gap:.2e}  ({what}, tolerance {tol:g})")
        if not gap <= tol:
            bad.append(name)
    print(f"time: {time.perf_counter() - t0:.1f} s")
    if bad:
        print(
            f"ldm-teach export-onnx: {', '.join(bad)} differ from PyTorch beyond the tolerance",
            file=sys.stderr,
        )
        return 1
    return 0
