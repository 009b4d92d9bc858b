"""The 10.4 measurements run end to end on a tiny random model (numbers are chance-level;
what is tested is the bookkeeping)."""

import torch

from ldm_teach.data.shapes import all_attributes, held_out_attributes, training_attributes
from ldm_teach.metrics.caption_judge import CaptionJudge
from ldm_teach.metrics.text_to_image import (
    caption_accuracy_split,
    colour_swaps,
    measure_attention,
    measure_prompt_to_prompt,
    sample_captions,
)


def _big(model):
    """The tiny model at the judge's 32 x 32 (the UNet is fully convolutional)."""
    model.image_size = 32
    return model


def test_caption_accuracy_is_split_into_seen_and_held_out(model):
    attrs = training_attributes()[:20] + held_out_attributes()[:3]
    images = sample_captions(_big(model), attrs, num_inference_steps=1, batch_size=8)
    assert images.shape == (23, 3, 32, 32)
    scores = caption_accuracy_split(CaptionJudge((8, 8, 8)), images, attrs)
    assert scores["all"]["num_images"] == 23 and scores["held_out"]["num_images"] == 3
    assert scores["seen"]["num_images"] == 20


def test_attention_and_prompt_to_prompt_measures_report_rates(model):
    attrs = all_attributes()[:4]
    att = measure_attention(_big(model), attrs, num_inference_steps=2)
    assert att["num_images"] == 4
    assert all(
        0 <= att[k] <= 1
        for k in (
            "pointing",
            "iou",
            "word_share_pointing",
            "word_share_iou",
            "sink_pointing",
            "sink_iou",
            "baseline_pointing",
            "centre_pointing",
        )
    )
    swaps = colour_swaps(attrs[:2])
    assert swaps[0][1]["colour"] != swaps[0][0]["colour"]
    assert {k: v for k, v in swaps[0][1].items() if k != "colour"} == {
        k: v for k, v in swaps[0][0].items() if k != "colour"
    }
    p2p = measure_prompt_to_prompt(model, CaptionJudge((8, 8, 8)), swaps, num_inference_steps=2)
    assert p2p["num_edits"] == 2 and 0 <= p2p["prompt_to_prompt"] <= 1
    assert 0 <= p2p["layout_iou"] <= 1 and 0 <= p2p["regenerate_layout_iou"] <= 1
    assert torch.is_tensor(torch.tensor(p2p["regenerate"]))
