"""PSNR/SSIM of deterministic reconstructions (ldm_teach.metrics.reconstruction)."""

from __future__ import annotations

import pytest
import torch

from ldm_teach.autoencoders import IdentityAutoencoder
from ldm_teach.metrics import evaluate_autoencoder, psnr
from ldm_teach.metrics.reconstruction import reconstruct
from ldm_teach.pretrained import load_autoencoder


def test_evaluate_autoencoder_matches_psnr_of_its_reconstructions():
    model = load_autoencoder("digits-kl-f4")
    x = torch.rand(6, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    m = evaluate_autoencoder(model, x, batch=4)  # two batches
    with torch.no_grad():
        rec, z = reconstruct(model, x)
    assert rec.min() >= -1 and rec.max() <= 1 and z.shape == (6, 4, 8, 8)
    assert m["psnr_db"] == pytest.approx(float(psnr(rec, x).mean()), abs=1e-3)
    assert m["num_images"] == 6 and m["latent_std"] == pytest.approx(float(z.std()), abs=1e-4)


def test_evaluate_autoencoder_refuses_other_models_and_bad_batches():
    x = torch.zeros(2, 1, 32, 32)
    with pytest.raises(TypeError, match="AutoencoderKL or a VQVAE"):
        evaluate_autoencoder(IdentityAutoencoder(1), x)
    with pytest.raises(ValueError, match="batch"):
        evaluate_autoencoder(load_autoencoder("digits-kl-f4"), x, batch=0)
