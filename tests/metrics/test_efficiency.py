"""Pixel vs latent cost measured side by side (ldm_teach.metrics.efficiency)."""

from __future__ import annotations

import pytest
import torch

from ldm_teach.autoencoders import IdentityAutoencoder
from ldm_teach.diffusion import ScheduleConfig
from ldm_teach.metrics import (
    CHAPTER_SPEEDUPS,
    count_flops,
    measure_efficiency,
    relative_to,
)
from ldm_teach.models import LatentDiffusion, UNet, UNetConfig

SCHEDULE = ScheduleConfig(num_train_timesteps=50)


def _pixel_model(channels: int = 1) -> LatentDiffusion:
    torch.manual_seed(0)
    unet = UNet(
        UNetConfig(
            in_channels=channels,
            out_channels=channels,
            base_channels=8,
            channel_mult=(1,),
            num_res_blocks=1,
            attention_levels=(),
            num_classes=10,
            norm_groups=4,
        )
    )
    return LatentDiffusion(IdentityAutoencoder(channels), unet, SCHEDULE, 1.0).eval()


def test_measure_efficiency_counts_one_unet_forward_of_the_batch():
    ldm = _pixel_model()
    m = measure_efficiency(
        ldm, image_size=8, batch_size=4, repeats=1, num_samples=2, num_inference_steps=2
    )
    assert m["latent_shape"] == (1, 8, 8) and m["latent_numbers"] == 64 and m["f"] == 1
    z, t, y = torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long), torch.zeros(4).long()
    with torch.no_grad():
        assert m["flops"] == count_flops(lambda: ldm.unet(z, t, y), backward=False) > 0
    assert m["train_step_s"] > 0 and m["sampling_s"] > 0
    # the measurement leaves the weights as they were (the timed step has lr 0)
    again = measure_efficiency(
        ldm, image_size=8, batch_size=4, repeats=1, num_samples=2, num_inference_steps=2
    )
    assert again["flops"] == m["flops"]


def test_relative_to_divides_the_base_by_each_row_and_quotes_the_chapter():
    rows = {
        "pixel": {"flops": 100.0, "train_step_s": 2.0, "sampling_s": 8.0, "f": 1},
        "f4": {"flops": 10.0, "train_step_s": 0.5, "sampling_s": 1.0, "f": 4},
        "f3": {"flops": 50.0, "train_step_s": 1.0, "sampling_s": 4.0, "f": 3},
    }
    out = relative_to(rows, "pixel")
    assert out["pixel"]["flop_ratio"] == out["pixel"]["step_ratio"] == 1.0
    assert (out["f4"]["flop_ratio"], out["f4"]["step_ratio"], out["f4"]["sampling_ratio"]) == (
        10.0,
        4.0,
        8.0,
    )
    assert out["f4"]["chapter"] == CHAPTER_SPEEDUPS[4] == "10-15x"
    assert out["f3"]["chapter"] is None
    with pytest.raises(KeyError, match="not one of the measured rows"):
        relative_to(rows, "f8")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"repeats": 1.5}, "repeats"),
        ({"num_samples": True}, "num_samples"),
        ({"image_size": 4}, "image_size"),
        ({"guidance_scale": float("nan")}, "guidance_scale"),
        ({"seed": -1}, "seed"),
    ],
)
def test_measure_efficiency_names_a_bad_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        measure_efficiency(_pixel_model(), **kwargs)


def test_rows_measured_differently_are_not_compared():
    # found by the fifth bad-input pass: a FLOP "ratio" of 2 between equal models
    ldm = _pixel_model()
    kw = dict(image_size=8, repeats=1, num_samples=2, num_inference_steps=2)
    rows = {
        "a": measure_efficiency(ldm, batch_size=8, **kw),
        "b": measure_efficiency(ldm, batch_size=4, **kw),
    }
    with pytest.raises(ValueError, match="measure them alike"):
        relative_to(rows, "a")
