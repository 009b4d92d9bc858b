"""Benchmark: Sec. 10.4's text-to-image figures, measured in one run on the shipped models.

- caption accuracy of ``shapes-t2i`` (the judge reads all four attributes) over the 216
  captions x ``--per-caption`` samples at ``--steps`` DDIM steps, split into the 192
  training combinations and the 24 held out of training, with per-attribute accuracy;
- the same for the frozen / joint / embeddings comparison (equal UNet and budget);
- pointing accuracy and IoU of the shape word's cross-attention map against the generated
  shape, of its share of the words' attention, and of the start token's map inverted (an
  attention sink), next to the map of the article "a" and a fixed centre point;
- the prompt-to-prompt success rate of colour swaps against regeneration from the same
  noise.

    python benchmarks/text_to_image.py [--weights-dir DIR] [--per-caption 2] [--steps 25]
"""

from __future__ import annotations

import argparse
import time

import torch

from ldm_teach.data.shapes import all_attributes, training_attributes
from ldm_teach.metrics.text_to_image import (
    colour_swaps,
    measure_attention,
    measure_prompt_to_prompt,
    measure_text_to_image,
)
from ldm_teach.pretrained import available
from ldm_teach.pretrained.text_registry import load_caption_judge, load_text_to_image
from ldm_teach.viz import table

MAIN = "shapes-t2i"
COMPARISON = ("shapes-t2i-frozen", "shapes-t2i-joint", "shapes-t2i-embeddings")
ATTRS = ("shape", "colour", "size", "position")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights-dir", default=None)
    parser.add_argument("--per-caption", type=int, default=2)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--guidance-scale", type=float, default=3.0)
    parser.add_argument("--attention-captions", type=int, default=54)
    parser.add_argument("--edits", type=int, default=48)
    args = parser.parse_args()
    if not 1 <= args.per_caption <= 20:
        parser.error("--per-caption must be in [1, 20]")
    if not 1 <= args.steps <= 1000:
        parser.error("--steps must be in [1, 1000]")
    if not 1 <= args.attention_captions <= 216 or not 1 <= args.edits <= 192:
        parser.error("--attention-captions must be in [1, 216] and --edits in [1, 192]")
    have = set(available(args.weights_dir))
    names = [n for n in (MAIN, *COMPARISON) if n in have]
    if MAIN not in names or "shapes-judge" not in have:
        parser.error("shapes-t2i and shapes-judge are needed: ldm-teach train NAME")
    judge = load_caption_judge("shapes-judge", args.weights_dir)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; 216 captions x "
        f"{args.per_caption}, {args.steps} DDIM steps, guidance {args.guidance_scale:g}"
    )
    rows = []
    for name in names:
        t0 = time.perf_counter()
        m = measure_text_to_image(
            load_text_to_image(name, args.weights_dir),
            judge,
            args.guidance_scale,
            args.steps,
            args.per_caption,
        )
        rows.append(
            (
                name,
                m["seen"]["caption"],
                m["held_out"]["caption"],
                *(m["all"][a] for a in ATTRS),
                time.perf_counter() - t0,
            )
        )
    print(
        table(
            rows,
            columns=("model", "caption acc (seen)", "caption acc (held out)", *ATTRS, "wall (s)"),
            formats={c: ".1%" for c in ("caption acc (seen)", "caption acc (held out)", *ATTRS)}
            | {"wall (s)": ".0f"},
            title="caption accuracy (the judge reads all four attributes)",
        )
    )
    model = load_text_to_image(MAIN, args.weights_dir)
    gen = torch.Generator().manual_seed(0)
    pick = torch.randperm(216, generator=gen)[: args.attention_captions].tolist()
    att = measure_attention(
        model, [all_attributes()[i] for i in pick], args.guidance_scale, args.steps
    )
    print(
        table(
            [
                ("shape word", att["pointing"], att["iou"]),
                (
                    "shape word's share of the words",
                    att["word_share_pointing"],
                    att["word_share_iou"],
                ),
                ("start token, inverted (the sink)", att["sink_pointing"], att["sink_iou"]),
                ('"a" (baseline)', att["baseline_pointing"], att["baseline_iou"]),
                ("centre point (baseline)", att["centre_pointing"], None),
            ],
            columns=("map", "pointing accuracy", "IoU"),
            formats={"pointing accuracy": ".1%", "IoU": ".3f"},
            title=f"cross-attention maps of {att['num_images']} captions (DAAM, tau 0.4)",
        )
    )
    train = training_attributes()
    edits = colour_swaps(
        [train[i] for i in torch.randperm(len(train), generator=gen)[: args.edits]]
    )
    p2p = measure_prompt_to_prompt(model, judge, edits, 0.8, args.guidance_scale, args.steps)
    print(
        table(
            [
                (
                    "prompt-to-prompt (maps injected, 80% of steps)",
                    p2p["prompt_to_prompt"],
                    p2p["kept_layout"],
                ),
                (
                    "regenerate from the same noise",
                    p2p["regenerate"],
                    p2p["regenerate_kept_layout"],
                ),
            ],
            columns=("colour swap", "success", "layout kept"),
            formats={"success": ".1%", "layout kept": ".1%"},
            title=f"{p2p['num_edits']} colour swaps: new colour read, shape/size/position kept",
        )
    )


if __name__ == "__main__":
    main()
