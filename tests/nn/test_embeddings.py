"""Sinusoidal timestep embedding (ldm_teach.nn.embeddings)."""

import math

import pytest
import torch

from ldm_teach.nn.embeddings import timestep_embedding


@pytest.mark.parametrize("dim", [2, 8, 32, 128])
def test_shape_and_dtype(dim):
    t = torch.tensor([0, 1, 10, 999])
    emb = timestep_embedding(t, dim)
    assert emb.shape == (4, dim)
    assert emb.dtype == torch.float32


def test_t_zero_is_ones_then_zeros():
    emb = timestep_embedding(torch.zeros(3, dtype=torch.long), 16)
    assert torch.equal(emb[:, :8], torch.ones(3, 8))
    assert torch.equal(emb[:, 8:], torch.zeros(3, 8))


def test_values_match_closed_form_in_float64():
    dim, k, max_period = 12, 6, 10000.0
    t = torch.tensor([0.0, 1.0, 3.0, 17.0, 250.0])
    emb = timestep_embedding(t, dim, max_period)
    for b, tb in enumerate(t.tolist()):
        for i in range(k):
            freq = math.exp(-math.log(max_period) * i / k)
            assert emb[b, i].item() == pytest.approx(math.cos(tb * freq), abs=2e-5)
            assert emb[b, k + i].item() == pytest.approx(math.sin(tb * freq), abs=2e-5)


def test_first_frequency_is_one_and_max_period_sets_the_last():
    t = torch.arange(5).float()
    emb = timestep_embedding(t, 4, max_period=100.0)  # k = 2: freqs 1 and 100^(-1/2)
    assert torch.allclose(emb[:, 0], torch.cos(t), atol=1e-6)
    assert torch.allclose(emb[:, 2], torch.sin(t), atol=1e-6)
    assert torch.allclose(emb[:, 1], torch.cos(t * 0.1), atol=1e-6)
    assert torch.allclose(emb[:, 3], torch.sin(t * 0.1), atol=1e-6)


def test_values_in_unit_range_and_cos_sin_pairs_on_unit_circle():
    t = torch.arange(0, 1000, 7)
    emb = timestep_embedding(t, 64)
    assert emb.abs().max() <= 1.0
    radius = emb[:, :32] ** 2 + emb[:, 32:] ** 2
    assert torch.allclose(radius, torch.ones_like(radius), atol=1e-5)


def test_integer_and_float_timesteps_agree():
    t = torch.tensor([0, 5, 999])
    assert torch.equal(timestep_embedding(t, 32), timestep_embedding(t.float(), 32))


@pytest.mark.parametrize("dim", [4, 32, 320])
def test_matches_diffusers(dim):
    embeddings = pytest.importorskip("diffusers.models.embeddings")
    t = torch.tensor([0, 1, 2, 50, 500, 999])
    ref = embeddings.get_timestep_embedding(t, dim, flip_sin_to_cos=True, downscale_freq_shift=0)
    assert torch.allclose(timestep_embedding(t, dim), ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("dim", [0, -2, 3, 17])
def test_bad_dim_raises(dim):
    with pytest.raises(ValueError, match="dim"):
        timestep_embedding(torch.tensor([1, 2]), dim)


@pytest.mark.parametrize("shape", [(2, 1), (), (1, 2, 3)])
def test_non_1d_t_raises(shape):
    with pytest.raises(ValueError, match="t must have shape"):
        timestep_embedding(torch.zeros(shape), 8)
