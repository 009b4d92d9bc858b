"""The adversarial autoencoder loop: delayed start, both players trained, determinism."""

from __future__ import annotations

import pytest
import torch

from ldm_teach.autoencoders import (
    AutoencoderKL,
    AutoencoderKLConfig,
    AutoencoderLoss,
    AutoencoderLossConfig,
    PatchDiscriminator,
)
from ldm_teach.training import train_autoencoder_adversarial

CFG = AutoencoderKLConfig(
    in_channels=1,
    base_channels=8,
    channel_mult=(1, 2),
    latent_channels=2,
    norm_groups=4,
    mid_attention=False,
)


def _run(disc_start, steps=4, r1_weight=0.0):
    torch.manual_seed(0)
    ae = AutoencoderKL(CFG)
    disc = PatchDiscriminator(in_channels=1, base_channels=8, num_layers=2, norm="none")
    loss = AutoencoderLoss(AutoencoderLossConfig(perceptual_weight=0.0, disc_start=disc_start))
    images = torch.rand(16, 1, 16, 16) * 2 - 1
    d0 = [p.detach().clone() for p in disc.parameters()]
    res = train_autoencoder_adversarial(
        ae, disc, loss, images, steps=steps, batch_size=4, r1_weight=r1_weight, progress=False
    )
    moved = any(not torch.equal(a, b) for a, b in zip(d0, disc.parameters(), strict=False))
    return res, moved


def test_discriminator_waits_for_disc_start():
    res, moved = _run(disc_start=100)
    assert not moved
    assert all(log["disc_factor"] == 0 and log["d_weight"] == 0 for log in res.logs)


def test_after_disc_start_both_players_train():
    res, moved = _run(disc_start=2, steps=4, r1_weight=1.0)
    assert moved
    assert [log["disc_factor"] for log in res.logs] == [0, 0, 1, 1]
    assert res.logs[-1]["d_weight"] > 0 and res.logs[-1]["r1"] > 0
    assert not res.autoencoder.training and not res.discriminator.training


def test_runs_are_reproducible():
    a, _ = _run(disc_start=2)
    b, _ = _run(disc_start=2)
    assert [x["loss"] for x in a.logs] == [x["loss"] for x in b.logs]


def test_bad_arguments():
    ae = AutoencoderKL(CFG)
    disc = PatchDiscriminator(in_channels=1, base_channels=8, num_layers=2, norm="none")
    loss = AutoencoderLoss(AutoencoderLossConfig(perceptual_weight=0.0))
    x = torch.zeros(4, 1, 16, 16)
    with pytest.raises(ValueError, match="steps"):
        train_autoencoder_adversarial(ae, disc, loss, x, steps=0)
    with pytest.raises(ValueError, match="lr"):
        train_autoencoder_adversarial(ae, disc, loss, x, steps=1, lr=0)
    with pytest.raises(ValueError, match="r1_weight"):
        train_autoencoder_adversarial(ae, disc, loss, x, steps=1, r1_weight=-1)
    with pytest.raises(ValueError, match="images"):
        train_autoencoder_adversarial(ae, disc, loss, x[0], steps=1)


def test_missing_perceptual_fn_and_bad_images_fail_before_training():
    ae = AutoencoderKL(CFG)
    disc = PatchDiscriminator(in_channels=1, base_channels=8, num_layers=2, norm="none")
    with pytest.raises(ValueError, match="perceptual_fn"):
        train_autoencoder_adversarial(
            ae, disc, AutoencoderLoss(AutoencoderLossConfig()), torch.zeros(4, 1, 16, 16), steps=1
        )
    loss = AutoencoderLoss(AutoencoderLossConfig(perceptual_weight=0.0))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        train_autoencoder_adversarial(ae, disc, loss, torch.full((4, 1, 16, 16), 255.0), steps=1)
    with pytest.raises(ValueError, match="one \\(N, C, H, W\\) tensor"):
        train_autoencoder_adversarial(ae, disc, loss, (torch.zeros(4, 1, 16, 16),), steps=1)
