"""Diagonal Gaussian posterior q(z|x) = N(mu, diag(sigma^2)) of the KL autoencoder
(Kingma & Welling 2013, arXiv:1312.6114, Sec. 2.4 and Appendix B; Rombach et al. 2022,
arXiv:2112.10752, Sec. 3.1).

    sample:  z = mu + sigma * eps,  eps ~ N(0, I)          (reparameterisation trick)
    KL(q || N(0, I)) = 0.5 * sum(mu^2 + sigma^2 - 1 - log sigma^2)   (Kingma & Welling, App. B)

``logvar`` is clamped to [-30, 20] so that exp(logvar) neither underflows to 0 nor
overflows, as in the LDM code base.
"""

from __future__ import annotations

import torch
from torch import Tensor

LOGVAR_MIN = -30.0
LOGVAR_MAX = 20.0


class DiagonalGaussian:
    """A batch of diagonal Gaussians over latent tensors.

    Args:
        mean: mu, (B, C, h, w), float.
        logvar: log sigma^2, same shape as ``mean``; clamped to [LOGVAR_MIN, LOGVAR_MAX].
    Raises:
        ValueError: if the shapes of ``mean`` and ``logvar`` differ.
    """

    def __init__(self, mean: Tensor, logvar: Tensor) -> None:
        if not isinstance(mean, Tensor) or mean.ndim < 2:
            got = tuple(mean.shape) if isinstance(mean, Tensor) else type(mean).__name__
            raise ValueError(
                f"mean must be a (B, ...) tensor with a batch dimension and at "
                f"least one more (the KL sums over all but the first), got {got}"
            )
        if mean.shape != logvar.shape:
            raise ValueError(
                f"mean and logvar must have the same shape, got {tuple(mean.shape)} "
                f"and {tuple(logvar.shape)}"
            )
        self.mean = mean
        self.logvar = logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)
        self.std = torch.exp(0.5 * self.logvar)
        self.var = torch.exp(self.logvar)

    @classmethod
    def from_moments(cls, moments: Tensor) -> DiagonalGaussian:
        """Split a (B, 2C, h, w) encoder output into mean (first C) and logvar (last C)."""
        if moments.ndim < 2 or moments.shape[1] % 2 != 0:
            raise ValueError(
                f"moments must have an even channel count 2C, got shape {tuple(moments.shape)}"
            )
        mean, logvar = torch.chunk(moments, 2, dim=1)
        return cls(mean, logvar)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """Draw z = mu + sigma * eps (reparameterised: gradients flow to mu and sigma)."""
        eps = torch.randn(
            self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype
        )
        return self.mean + self.std * eps

    def mode(self) -> Tensor:
        """The most likely latent, mu (what LDMs use to encode for diffusion)."""
        return self.mean

    def kl(self) -> Tensor:
        """KL(q(z|x) || N(0, I)), summed over latent elements: shape (B,), in nats."""
        dims = tuple(range(1, self.mean.ndim))
        return 0.5 * torch.sum(self.mean.pow(2) + self.var - 1.0 - self.logvar, dim=dims)

    def nll(self, z: Tensor) -> Tensor:
        """-log q(z|x), summed over latent elements: shape (B,), in nats."""
        dims = tuple(range(1, self.mean.ndim))
        log_two_pi = torch.log(torch.tensor(2.0 * torch.pi, dtype=z.dtype, device=z.device))
        return 0.5 * torch.sum(
            log_two_pi + self.logvar + (z - self.mean).pow(2) / self.var, dim=dims
        )
