"""Autoencoder objectives for the training loop (ldm_teach.training.objectives)."""

import pytest
import torch

from ldm_teach.autoencoders import (
    VQVAE,
    AutoencoderKL,
    AutoencoderKLConfig,
    VQVAEConfig,
    autoencoder_kl_loss,
    vq_vae_loss,
)
from ldm_teach.training import TrainConfig, train
from ldm_teach.training.objectives import KLObjective, VQObjective

TINY = dict(in_channels=1, base_channels=8, channel_mult=(1, 2), norm_groups=4)


def _x():
    return torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_kl_objective_is_autoencoder_kl_loss_and_logs_its_parts():
    torch.manual_seed(0)
    model, x = AutoencoderKL(AutoencoderKLConfig(**TINY)), _x()
    objective = KLObjective(kl_weight=1e-3)
    loss = objective(model, (x,), torch.Generator().manual_seed(7))
    expected, parts = autoencoder_kl_loss(
        model, x, 1e-3, generator=torch.Generator().manual_seed(7)
    )
    assert torch.equal(loss, expected)
    assert objective.logs == {"rec": [parts["rec"]], "kl": [parts["kl"]]}


def test_vq_objective_is_vq_vae_loss_and_logs_the_perplexity():
    torch.manual_seed(0)
    model, x = VQVAE(VQVAEConfig(**TINY, num_codes=16)).eval(), _x()
    objective = VQObjective()
    loss = objective(model, (x,), None)
    expected, _ = vq_vae_loss(model, x)
    assert torch.allclose(loss, expected)
    assert 1.0 <= objective.logs["perplexity"][0] <= 16.0
    assert set(objective.logs) == {"rec", "vq", "perplexity", "usage"}


def test_one_log_entry_per_call_of_the_training_loop():
    torch.manual_seed(0)
    objective = VQObjective()
    cfg = TrainConfig(steps=3, batch_size=2, lr=1e-3, ema_decay=None, seed=0, grad_accum=2)
    result = train(VQVAE(VQVAEConfig(**TINY, num_codes=16)), objective, (_x(),), cfg)
    assert len(result.losses) == 3 and len(objective.logs["perplexity"]) == 6


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="kl_weight"):
        KLObjective(-1.0)
    with pytest.raises(ValueError, match="kl_weight"):
        KLObjective(float("nan"))
    with pytest.raises(TypeError, match="AutoencoderKL"):
        KLObjective()(VQVAE(VQVAEConfig(**TINY, num_codes=16)), (_x(),), None)
    with pytest.raises(TypeError, match="VQVAE"):
        VQObjective()(AutoencoderKL(AutoencoderKLConfig(**TINY)), (_x(),), None)
    with pytest.raises(ValueError, match="batch"):
        KLObjective()(AutoencoderKL(AutoencoderKLConfig(**TINY)), _x(), None)
