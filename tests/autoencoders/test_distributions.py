"""DiagonalGaussian posterior (ldm_teach.autoencoders.distributions)."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from ldm_teach.autoencoders.distributions import LOGVAR_MAX, LOGVAR_MIN, DiagonalGaussian


def _gaussian(shape=(3, 2, 4, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def test_attributes_from_logvar():
    mean, logvar = _gaussian()
    q = DiagonalGaussian(mean, logvar)
    assert torch.equal(q.mean, mean) and torch.equal(q.mode(), mean)
    assert torch.allclose(q.std, torch.exp(0.5 * logvar))
    assert torch.allclose(q.var, torch.exp(logvar))


def test_kl_matches_torch_distributions():
    mean, logvar = _gaussian()
    q = DiagonalGaussian(mean, logvar)
    ref = kl_divergence(Normal(mean, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum((1, 2, 3))
    assert q.kl().shape == (3,)
    assert torch.allclose(q.kl(), ref, atol=1e-5, rtol=1e-6)


def test_kl_is_zero_for_standard_normal_and_grows_with_mean():
    zeros = torch.zeros(2, 4, 3, 3)
    assert torch.equal(DiagonalGaussian(zeros, zeros).kl(), torch.zeros(2))
    # KL(N(mu, 1) || N(0, 1)) = mu^2 / 2 per element
    q = DiagonalGaussian(torch.full((1, 4, 3, 3), 2.0), torch.zeros(1, 4, 3, 3))
    assert q.kl().item() == pytest.approx(36 * 2.0, rel=1e-6)


def test_nll_matches_torch_distributions():
    mean, logvar = _gaussian()
    z = torch.randn(mean.shape, generator=torch.Generator().manual_seed(5))
    q = DiagonalGaussian(mean, logvar)
    ref = -Normal(mean, torch.exp(0.5 * logvar)).log_prob(z).sum((1, 2, 3))
    assert q.nll(z).shape == (3,)
    assert torch.allclose(q.nll(z), ref, atol=1e-4, rtol=1e-6)


def test_nll_at_the_mean_of_standard_normal():
    q = DiagonalGaussian(torch.zeros(1, 1, 2, 5), torch.zeros(1, 1, 2, 5))
    assert q.nll(q.mean).item() == pytest.approx(10 * 0.5 * math.log(2 * math.pi), rel=1e-6)


def test_sample_moments_over_many_draws():
    n = 20000
    mu = torch.tensor([-2.0, 0.0, 3.0])
    sigma = torch.tensor([0.5, 1.0, 2.0])
    q = DiagonalGaussian(mu.expand(n, 3), (2 * sigma.log()).expand(n, 3))
    z = q.sample(torch.Generator().manual_seed(0))  # (n, 3)
    assert z.shape == (n, 3)
    # 5 standard errors of the mean / of the variance (Gaussian: sd(s^2) = sigma^2 sqrt(2/n))
    assert torch.all((z.mean(0) - mu).abs() < 5 * sigma / math.sqrt(n))
    assert torch.all((z.var(0) - sigma**2).abs() < 5 * sigma**2 * math.sqrt(2 / n))


def test_sample_is_reproducible_with_a_generator():
    q = DiagonalGaussian(*_gaussian())
    a = q.sample(torch.Generator().manual_seed(7))
    b = q.sample(torch.Generator().manual_seed(7))
    c = q.sample(torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_reparameterisation_gradients_reach_mean_and_logvar():
    mean, logvar = _gaussian((2, 3, 2, 2))
    mean.requires_grad_(True)
    logvar.requires_grad_(True)
    q = DiagonalGaussian(mean, logvar)
    z = q.sample(torch.Generator().manual_seed(3))
    z.sum().backward()
    eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(3))
    # z = mu + exp(logvar / 2) eps: dz/dmu = 1, dz/dlogvar = 0.5 * sigma * eps
    assert torch.equal(mean.grad, torch.ones_like(mean))
    assert torch.allclose(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps, atol=1e-6)


def test_logvar_is_clamped():
    logvar = torch.tensor([[-100.0, -30.0, 0.0, 20.0, 100.0]])
    q = DiagonalGaussian(torch.zeros(1, 5), logvar)
    assert torch.equal(q.logvar, torch.tensor([[LOGVAR_MIN, -30.0, 0.0, 20.0, LOGVAR_MAX]]))
    assert (LOGVAR_MIN, LOGVAR_MAX) == (-30.0, 20.0)
    assert torch.isfinite(q.var).all() and (q.var > 0).all()
    assert q.std[0, 0].item() == pytest.approx(math.exp(-15.0), rel=1e-5)
    assert q.var[0, 4].item() == pytest.approx(math.exp(20.0), rel=1e-5)
    assert torch.isfinite(q.kl()).all()


def test_from_moments_splits_channels():
    moments = torch.randn(2, 8, 3, 3)
    q = DiagonalGaussian.from_moments(moments)
    assert torch.equal(q.mean, moments[:, :4])
    assert torch.equal(q.logvar, moments[:, 4:].clamp(LOGVAR_MIN, LOGVAR_MAX))


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (5,)])
def test_from_moments_rejects_odd_channels_or_1d(shape):
    with pytest.raises(ValueError, match="even channel count"):
        DiagonalGaussian.from_moments(torch.zeros(shape))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="same shape"):
        DiagonalGaussian(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 4))
