"""Latent statistics (ldm_teach.metrics.latents)."""

import math

import pytest
import torch

from ldm_teach.metrics.latents import latent_stats


def test_pinned_values_on_a_tiny_tensor():
    z = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 2, 2)
    s = latent_stats(z)
    assert set(s) == {"mean", "std", "kurtosis"}
    assert s["mean"] == pytest.approx(2.5)
    assert s["std"] == pytest.approx(math.sqrt(5 / 3))  # sample std, ddof = 1
    # Fisher's (biased) excess kurtosis: m4 / m2^2 - 3 = 2.5625 / 1.5625 - 3
    assert s["kurtosis"] == pytest.approx(2.5625 / 1.5625 - 3)


def test_standard_gaussian():
    z = torch.randn(64, 4, 8, 8, generator=torch.Generator().manual_seed(0))  # 16384 values
    s = latent_stats(z)
    se = 1 / math.sqrt(z.numel())
    assert abs(s["mean"]) < 5 * se
    assert abs(s["std"] - 1) < 5 * se
    assert abs(s["kurtosis"]) < 5 * math.sqrt(24 / z.numel())


def test_heavy_and_light_tails():
    g = torch.Generator().manual_seed(1)
    u = torch.rand(32, 2, 16, 16, generator=g)
    laplace = -torch.sign(u - 0.5) * torch.log1p(-2 * (u - 0.5).abs())  # excess kurtosis 3
    uniform = torch.rand(32, 2, 16, 16, generator=g)  # excess kurtosis -1.2
    assert latent_stats(laplace)["kurtosis"] == pytest.approx(3.0, abs=0.6)
    assert latent_stats(uniform)["kurtosis"] == pytest.approx(-1.2, abs=0.1)


def test_per_channel_lists():
    g = torch.Generator().manual_seed(2)
    shift = torch.tensor([-3.0, 0.0, 2.0])
    scale = torch.tensor([0.5, 1.0, 4.0])
    z = torch.randn(100, 3, 6, 6, generator=g) * scale.view(1, 3, 1, 1) + shift.view(1, 3, 1, 1)
    s = latent_stats(z.double(), per_channel=True)
    for key in ("channel_mean", "channel_std", "channel_kurtosis"):
        assert isinstance(s[key], list) and len(s[key]) == 3
        assert all(isinstance(v, float) for v in s[key])
    for c in range(3):
        zc = z[:, c].reshape(-1)
        assert s["channel_mean"][c] == pytest.approx(zc.mean().item(), abs=1e-5)
        assert s["channel_std"][c] == pytest.approx(zc.std().item(), rel=1e-5)
        assert abs(s["channel_mean"][c] - shift[c].item()) < 0.1 * scale[c].item()
        assert abs(s["channel_kurtosis"][c]) < 0.5
    assert s["mean"] == pytest.approx(z.mean().item(), abs=1e-5)


@pytest.mark.parametrize("shape", [(4, 3, 2), (0, 1, 2, 2), (2, 2, 2, 2, 2)])
def test_bad_shapes_raise(shape):
    with pytest.raises(ValueError, match="z must be"):
        latent_stats(torch.zeros(shape))
