"""Inputs the fourth bad-input pass found accepted with a silently wrong meaning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ldm_teach.autoencoders import DiagonalGaussian, VectorQuantizer
from ldm_teach.autoencoders.losses import adaptive_weight
from ldm_teach.claims import claim_close
from ldm_teach.diffusion import NoiseSchedule, ScheduleConfig, ddim_sample, ddpm_sample
from ldm_teach.metrics.rate import jpeg_roundtrip, latent_bits_per_pixel
from ldm_teach.training import TrainConfig, train
from ldm_teach.viz import embed_2d, plot_curves

SCHEDULE = NoiseSchedule(ScheduleConfig(num_train_timesteps=10))


def _model(x, t):
    return torch.zeros_like(x)


@pytest.mark.parametrize("sampler", [ddim_sample, ddpm_sample])
def test_a_truthy_string_does_not_switch_a_flag(sampler):
    with pytest.raises(ValueError, match="progress must be True or False"):
        kw = {"num_inference_steps": 2} if sampler is ddim_sample else {}
        sampler(_model, (1, 1, 4, 4), SCHEDULE, progress="no", **kw)


def test_train_and_plots_refuse_truthy_strings_for_flags():
    net = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match="progress must be True or False"):
        train(
            net,
            lambda m, b, g: m(b[0]).pow(2).mean(),
            (torch.zeros(4, 2),),
            TrainConfig(steps=1, batch_size=2),
            progress="no",
        )
    with pytest.raises(ValueError, match="logy must be True or False"):
        plot_curves({"loss": [1.0, 0.5]}, logy="no")


def test_bools_are_not_numbers():
    image = torch.zeros(1, 8, 8)
    with pytest.raises(ValueError, match="quality must be an int in"):
        jpeg_roundtrip(image, True)
    with pytest.raises(ValueError, match="image_hw"):
        latent_bits_per_pixel(torch.zeros(1, 4, 2, 2), (True, True))


def test_claim_close_does_not_take_a_bool_for_one(capsys):
    claim_close("x", True, 1.0, atol=0.1)
    assert capsys.readouterr().out == (
        "x = 1.0 ± 0.1: False (value must be a number, got the bool True)\n"
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: VectorQuantizer(8, 2, dead_code_threshold=float("nan")),
        lambda: adaptive_weight(
            torch.ones((), requires_grad=True),
            torch.ones((), requires_grad=True),
            torch.ones(1, requires_grad=True),
            max_weight=float("nan"),
        ),
    ],
)
def test_nan_is_not_a_setting(make):
    with pytest.raises(ValueError, match="got nan"):
        make()


def test_a_gaussian_needs_a_batch_dimension_and_real_latents_are_required():
    with pytest.raises(ValueError, match="batch dimension"):
        DiagonalGaussian(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="real numbers"):
        embed_2d(np.ones((6, 3), dtype=complex))


def test_raw_errors_found_by_pass_four_are_clear_ones():
    from ldm_teach.autoencoders import VQVAE, VQVAEConfig
    from ldm_teach.diffusion import gaussian_noise
    from ldm_teach.models import LatentDiffusion, UNet, UNetConfig, compute_scale_factor

    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        gaussian_noise((2, 2), generator=0)
    with pytest.raises(TypeError, match="shape must be a tuple of ints"):
        gaussian_noise((2, -1))
    frozen = torch.nn.Linear(2, 1).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train(
            frozen,
            lambda m, b, g: m(b[0]).sum(),
            (torch.zeros(4, 2),),
            TrainConfig(steps=1, batch_size=2),
            progress=False,
        )
    vq = VQVAE(
        VQVAEConfig(
            in_channels=1,
            base_channels=8,
            channel_mult=(1, 2),
            norm_groups=4,
            num_codes=8,
            code_dim=2,
        )
    )
    with pytest.raises(TypeError, match="AutoencoderKL"):
        compute_scale_factor(vq, torch.zeros(2, 1, 8, 8))
    unet = UNet(
        UNetConfig(
            in_channels=2,
            out_channels=2,
            base_channels=8,
            channel_mult=(1,),
            attention_levels=(),
            norm_groups=4,
        )
    )
    with pytest.raises(TypeError, match="AutoencoderKL"):
        LatentDiffusion(vq, unet, ScheduleConfig(num_train_timesteps=10), 1.0)


def test_an_offset_that_moves_the_shape_off_its_caption_is_refused():
    from ldm_teach.data.shapes import render_shape

    a = {"shape": "circle", "colour": "red", "size": "large", "position": "top left"}
    with pytest.raises(ValueError, match="offset must be two finite fractions"):
        render_shape(a, offset=(1, 1))  # drew a black image under "top left"
    assert render_shape(a, offset=(0.05, -0.05)).max() > 0


def test_save_pretrained_names_a_model_or_card_it_cannot_save(tmp_path):
    from ldm_teach.pretrained import save_pretrained

    with pytest.raises(TypeError, match="torch.nn.Module"):
        save_pretrained({"w": torch.zeros(1)}, "x", {}, tmp_path)
    with pytest.raises(ValueError, match="JSON values only"):
        save_pretrained(torch.nn.Linear(1, 1), "x", {"loss": float("nan")}, tmp_path)
    with pytest.raises(ValueError, match="JSON values only"):
        save_pretrained(torch.nn.Linear(1, 1), "x", {"t": torch.zeros(1)}, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_info_into_a_closed_pipe_stops_quietly():
    import subprocess
    import sys

    proc = subprocess.run(
        f"{sys.executable} -m ldm_teach.cli info | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout.count("\n") == 1 and "Broken pipe" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_bad_device_is_not_called_a_damaged_checkpoint(tmp_path):
    from ldm_teach.training.checkpoint import load_tensors, save_tensors_atomic

    path = tmp_path / "ckpt.safetensors"
    save_tensors_atomic({"w": torch.zeros(2)}, path, {"step": 1})
    with pytest.raises(ValueError, match="device must be a device name") as err:
        load_tensors(path, device="gpu")
    assert "damaged" not in str(err.value)


def test_zero_one_images_are_flagged_per_image_set():
    # found by the fifth bad-input pass: only a batch where both sets were in [0, 1] warned
    from ldm_teach.data import DigitsDataset
    from ldm_teach.metrics import evaluate_autoencoder, frechet_distance
    from ldm_teach.metrics.features import DigitsFeatureNet, FeatureDistance
    from ldm_teach.pretrained import load_autoencoder

    x = DigitsDataset("test").images[:40]
    net = DigitsFeatureNet().eval()
    with pytest.warns(UserWarning, match=r"every value of fake lies in \[0, 1\]"):
        frechet_distance(x, (x + 1) / 2, net)
    with pytest.warns(UserWarning, match=r"every value of y lies in \[0, 1\]"):
        FeatureDistance(net)(x, (x + 1) / 2)
    with pytest.warns(UserWarning, match=r"every value of images lies in \[0, 1\]"):
        evaluate_autoencoder(load_autoencoder("digits-kl-f4"), (x + 1) / 2)


def test_timing_a_step_leaves_weights_and_gradients_as_they_were():
    # found by the fifth bad-input pass: an inf gradient turned the weights into NaN
    from ldm_teach.metrics import time_training_step

    lin = torch.nn.Linear(2, 1)
    lin.weight.grad = torch.full_like(lin.weight, 7.0)
    before = lin.weight.detach().clone()
    bad = torch.tensor([[float("inf"), 1.0]])
    time_training_step(lin, lambda m: m(bad).sum(), repeats=1)
    assert torch.equal(lin.weight, before) and torch.equal(lin.weight.grad, torch.full((1, 2), 7.0))


@pytest.mark.parametrize(
    "name, edit",
    [
        ("digits-cmp-pool", lambda c: c["config"]["schedule"].update(beta_schedule="linear")),
        ("digits-kl-f4", lambda c: c["metrics_test"].update(psnr_db=99.0)),
    ],
)
def test_removing_the_seal_is_no_way_to_edit_a_card(tmp_path, name, edit):
    # found by the fifth bad-input pass: a downgraded, edited card was sealed as it was
    import json
    import shutil

    from ldm_teach.pretrained import CardEditedError, seal_cards
    from ldm_teach.pretrained.cards import WEIGHTS_DIR

    for n in {name, "digits-features", "digits-kl-f4"}:
        for suffix in (".json", ".safetensors"):
            shutil.copy(WEIGHTS_DIR / f"{n}{suffix}", tmp_path)
    path = tmp_path / f"{name}.json"
    card = json.loads(path.read_text())
    for key in ("card_sha256", "card_format"):
        card.pop(key)
    edit(card)
    path.write_text(json.dumps(card))
    with pytest.raises(CardEditedError, match="edited"):
        seal_cards([name], tmp_path)
    assert seal_cards([name], tmp_path, accept_edits=True) == [(name, "sealed")]


def test_grad_clip_is_a_number_and_pooled_pixels_need_images():
    from ldm_teach.autoencoders import PooledPixels

    for bad in (True, "1", float("nan")):
        with pytest.raises(ValueError, match="grad_clip"):
            TrainConfig(steps=1, grad_clip=bad)
    with pytest.raises(ValueError, match="empty batch"):
        PooledPixels().encode(torch.zeros(0, 1, 32, 32))


def test_no_flag_is_switched_on_by_a_truthy_string(tmp_path):
    # a sweep after the fifth pass: every public bool that changes what is written or
    # returned refuses "no"
    from ldm_teach.autoencoders import PatchDiscriminator
    from ldm_teach.grading.generate import build_exercise
    from ldm_teach.nn import CrossAttention
    from ldm_teach.pretrained import seal_cards

    with pytest.raises(ValueError, match="accept_edits must be True or False"):
        seal_cards([], tmp_path, accept_edits="no")
    with pytest.raises(ValueError, match="return_trajectory must be True or False"):
        ddim_sample(
            _model,
            (1, 1, 4, 4),
            SCHEDULE,
            num_inference_steps=2,
            progress=False,
            return_trajectory="no",
        )
    with pytest.raises(ValueError, match="keep_hidden must be True or False"):
        build_exercise(None, keep_hidden="no")
    with pytest.raises(ValueError, match="spectral_norm must be True or False"):
        PatchDiscriminator(1, spectral_norm="no")
    attn = CrossAttention(8, 8, num_heads=2)
    with pytest.raises(ValueError, match="return_weights must be True or False"):
        attn(torch.zeros(1, 3, 8), torch.zeros(1, 2, 8), return_weights="no")
