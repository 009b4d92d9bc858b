"""Vector quantiser, the bottleneck of the VQ-VAE (van den Oord et al. 2017,
arXiv:1711.00937), as used by VQGAN (Esser et al. 2021, arXiv:2012.09841, Sec. 3.1, Eq. 4)
and by the VQ-regularised first stage of Latent Diffusion Models (Rombach et al. 2022,
arXiv:2112.10752, Sec. 3.1).

A codebook holds K vectors e_1 .. e_K of width D. Each of the h*w positions of the encoder
output z_e (B, D, h, w) is replaced by its nearest code:

    k = argmin_j ||z_e - e_j||^2,   z_q = e_k                     (van den Oord, Eq. 1-2)

Training signal (Eq. 3 without its reconstruction term; sg = stop-gradient, beta =
``commitment_cost``):

    loss = ||sg[z_e] - e||^2  +  beta * ||z_e - sg[e]||^2
           codebook term          commitment term

Both squared norms are *mean*-reduced over all B*D*h*w elements, as in VQGAN's code (the
paper writes sums; the mean only rescales the loss). The two terms have the same value;
they differ only in where the gradient goes: the first pulls the codes towards the encoder
outputs, the second keeps the encoder close to its codes.

argmin has no gradient, so the decoder's gradient is copied past it (straight-through,
van den Oord Sec. 3.1):

    z_q_st = z_e + sg(z_q - z_e)          value z_q, gradient d z_q_st / d z_e = I

EMA variant (van den Oord, Appendix A.1): with ``use_ema`` the codebook term is dropped and
each code is instead moved to an exponential moving average of the encoder outputs assigned
to it, with decay gamma = ``ema_decay``:

    N_i <- gamma N_i + (1 - gamma) n_i           n_i: how many z_e chose code i this batch
    m_i <- gamma m_i + (1 - gamma) sum_j z_e,j   sum over the z_e that chose code i
    N_i <- (N_i + eps) / (n + K eps) * n         Laplace smoothing, n = sum_i N_i
    e_i  = m_i / N_i

Monitoring: perplexity = exp(-sum_k p_k log p_k) of the code-usage distribution p is the
effective number of codes in use: 1 if every position picks the same code, K if all codes
are used equally. Codes nobody picks ("dead" codes) can be restarted on encoder outputs.

Shape alphabet: B batch, D code width, h/w latent height/width, N = B*h*w vectors, K codes.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.argcheck import check_bool, check_real


def check_quantizer_args(
    num_codes: int,
    code_dim: int,
    commitment_cost: float,
    ema_decay: float,
    dead_code_threshold: float,
) -> None:
    """Validate the quantiser's hyper-parameters (shared by :class:`VectorQuantizer` and
    the VQ-VAE config, so a bad config fails at construction).

    Raises:
        ValueError: naming the first argument out of range and the range expected.
    """
    if num_codes < 2:
        raise ValueError(f"num_codes must be >= 2, got {num_codes}")
    if code_dim <= 0:
        raise ValueError(f"code_dim must be positive, got {code_dim}")
    if not commitment_cost >= 0 or commitment_cost == float("inf"):  # NaN fails >= 0
        raise ValueError(f"commitment_cost must be a finite number >= 0, got {commitment_cost}")
    if not 0.0 <= ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
    check_real(dead_code_threshold, "dead_code_threshold", 0.0, expected=">= 0")


def perplexity_of_counts(counts: Tensor) -> float:
    """exp(entropy) of the distribution p_k = counts_k / sum(counts), with 0 log 0 = 0.

    Args:
        counts: (K,) non-negative counts, any numeric dtype.
    Returns:
        a float in [1, K]; 0.0 if all counts are zero (there is no distribution yet).
    """
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts.double() / total  # (K,)
    entropy = -(p * torch.log(p.clamp_min(1e-300))).sum()  # 0 log 0 -> 0 * finite = 0
    return float(torch.exp(entropy))


class QuantizerOutput(NamedTuple):
    """What :meth:`VectorQuantizer.forward` returns; unpacks as a 4-tuple."""

    z_q: Tensor  # (B, D, h, w) straight-through quantised latent: value e_k, gradient to z_e
    indices: Tensor  # (B, h, w) int64 code index k per position, in [0, K-1]
    loss: Tensor  # scalar, codebook term (without EMA) + beta * commitment term
    stats: dict[str, float]  # "perplexity", "usage" (this batch), "quantization_error"


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantiser with a learned codebook (van den Oord et al. 2017).

    Args:
        num_codes: K, the number of codes, >= 2 (512 in van den Oord et al.).
        code_dim: D, the width of each code and the channel count of z_e, > 0.
        commitment_cost: beta >= 0, weight of the commitment term (0.25 in the paper).
        use_ema: update the codebook by exponential moving averages (Appendix A.1) instead
            of by gradients; the codebook then gets no gradient and the codebook term is
            dropped from the loss.
        ema_decay: gamma in [0, 1) for the EMA updates (0.99 in the paper).
        ema_eps: epsilon > 0 of the Laplace smoothing of the cluster sizes (1e-5, as in
            Sonnet's ``VectorQuantizerEMA``).
        dead_code_threshold: a code whose accumulated usage count is below this (>= 0) is
            "dead" for :meth:`restart_dead_codes`; 1.0 means "never chosen".
    Raises:
        ValueError: if an argument is out of the ranges above.

    The codebook starts uniform in [-1/K, 1/K] (as in VQGAN's code). With ``use_ema`` the
    running averages start as if each code had been chosen once where it stands
    (N_i = 1, m_i = e_i), so e_i = m_i / N_i holds from the first step and a code that is
    not chosen stays put at first, instead of being divided by a cluster size near zero.
    (Other code bases start these averages differently; the fixed point, each code at the
    mean of the z_e assigned to it, is the same.) A code left unchosen for long sees N_i
    and m_i decay together until N_i drops below eps; from then on the smoothing draws it
    towards the origin: restart it instead.
    """

    codebook: nn.Parameter

    def __init__(
        self,
        num_codes: int,
        code_dim: int,
        commitment_cost: float = 0.25,
        use_ema: bool = False,
        ema_decay: float = 0.99,
        ema_eps: float = 1e-5,
        dead_code_threshold: float = 1.0,
    ) -> None:
        super().__init__()
        check_quantizer_args(num_codes, code_dim, commitment_cost, ema_decay, dead_code_threshold)
        if ema_eps <= 0:
            raise ValueError(f"ema_eps must be positive, got {ema_eps}")
        self.num_codes = num_codes
        self.code_dim = code_dim
        self.commitment_cost = commitment_cost
        self.use_ema = check_bool(use_ema, "use_ema")
        self.ema_decay = ema_decay
        self.ema_eps = ema_eps
        self.dead_code_threshold = dead_code_threshold

        codebook = torch.empty(num_codes, code_dim).uniform_(-1.0 / num_codes, 1.0 / num_codes)
        # e: (K, D). Learned by gradient, or (use_ema) written by the EMA update only.
        self.codebook = nn.Parameter(codebook, requires_grad=not use_ema)
        if use_ema:
            self.register_buffer("ema_cluster_size", torch.ones(num_codes))  # N: (K,)
            self.register_buffer("ema_code_sum", codebook.clone())  # m: (K, D)
        # How often each code was chosen since the last reset_usage(): (K,) int64.
        # A diagnostic, so it is left out of checkpoints (persistent=False).
        self.register_buffer(
            "usage_counts", torch.zeros(num_codes, dtype=torch.long), persistent=False
        )

    # ---- codes in and out ---------------------------------------------------------------

    def _check_latent(self, z_e: Tensor, name: str = "z_e") -> None:
        """Raise a ValueError unless z_e is a finite, non-empty float (B, D, h, w) tensor.

        A NaN distance makes argmin return an arbitrary index (code 0 for an all-NaN row),
        so non-finite inputs are refused rather than quantised.
        """
        if not isinstance(z_e, Tensor) or not z_e.is_floating_point():
            kind = z_e.dtype if isinstance(z_e, Tensor) else type(z_e).__name__
            raise ValueError(f"{name} must be a floating-point tensor, got {kind}")
        if z_e.ndim != 4 or z_e.shape[1] != self.code_dim:
            raise ValueError(
                f"{name} must have shape (B, {self.code_dim}, h, w), got {tuple(z_e.shape)}"
            )
        if z_e.numel() == 0:
            raise ValueError(f"{name} must be non-empty (B, h, w >= 1), got {tuple(z_e.shape)}")
        if not bool(torch.isfinite(z_e).all()):
            raise ValueError(f"{name} must be finite, got NaN or inf values")

    @staticmethod
    def _flatten(z: Tensor) -> Tensor:
        """(B, D, h, w) -> (N, D) with N = B*h*w, positions in (b, y, x) order."""
        return z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])  # (B, h, w, D) -> (N, D)

    def nearest_code(self, z_e: Tensor) -> Tensor:
        """k = argmin_j ||z_e - e_j||^2 at every position (van den Oord, Eq. 1). Pure: no
        state is updated. Ties go to the lowest index.

        Args:
            z_e: encoder output, (B, D, h, w), float.
        Returns:
            indices, (B, h, w) int64 in [0, K-1].
        Raises:
            ValueError: if z_e is not a finite, non-empty float (B, code_dim, h, w) tensor.
        """
        self._check_latent(z_e)
        B, _, h, w = z_e.shape
        z = self._flatten(z_e.detach()).float()  # (N, D)
        e = self.codebook.detach().float()  # (K, D)
        # ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2, without building an (N, K, D) tensor
        dist = (
            z.pow(2).sum(1, keepdim=True)  # (N, 1)
            - 2.0 * z @ e.t()  # (N, K)
            + e.pow(2).sum(1)[None, :]  # (1, K)
        )  # (N, K)
        return dist.argmin(dim=1).view(B, h, w)  # (B, h, w)

    def lookup(self, indices: Tensor) -> Tensor:
        """z_q = e_k (van den Oord, Eq. 2): codes for a grid of indices.

        Args:
            indices: (B, h, w) integer tensor with values in [0, K-1].
        Returns:
            z_q, (B, D, h, w) in the codebook's dtype; differentiable w.r.t. the codebook.
        Raises:
            ValueError: if indices are not an integer (B, h, w) tensor in [0, K-1].
        """
        if indices.ndim != 3 or indices.dtype.is_floating_point or indices.dtype == torch.bool:
            raise ValueError(
                f"indices must be an integer tensor of shape (B, h, w), got "
                f"{indices.dtype} {tuple(indices.shape)}"
            )
        if indices.numel() and (indices.min() < 0 or indices.max() >= self.num_codes):
            raise ValueError(
                f"indices must be in [0, {self.num_codes - 1}], got values in "
                f"[{int(indices.min())}, {int(indices.max())}]"
            )
        return self._embed(indices)

    def _embed(self, indices: Tensor) -> Tensor:
        """codebook[indices] without checks: (B, h, w) -> (B, D, h, w)."""
        z_q = F.embedding(indices.long(), self.codebook)  # (B, h, w, D)
        return z_q.permute(0, 3, 1, 2).contiguous()  # (B, D, h, w)

    # ---- forward ------------------------------------------------------------------------

    def forward(self, z_e: Tensor) -> QuantizerOutput:
        """Quantise z_e, return the straight-through output, the indices and the loss.

        Side effects: adds this batch's code counts to ``usage_counts``; in training mode
        with ``use_ema``, moves the codebook by one EMA step.

        Args:
            z_e: encoder output, (B, D, h, w), float (any dtype; distances in float32).
        Returns:
            QuantizerOutput(z_q, indices, loss, stats):
            z_q: (B, D, h, w), dtype of z_e; its values are exactly codebook[indices] and
                its gradient flows to z_e unchanged (straight-through).
            indices: (B, h, w) int64 in [0, K-1].
            loss: scalar, mean((sg[z_e] - z_q)^2) + beta * mean((z_e - sg[z_q])^2), each
                mean over all B*D*h*w elements; without the first term when ``use_ema``.
            stats: floats; "perplexity" of this batch's code usage in [1, K], "usage" the
                fraction of codes this batch used, "quantization_error" mean((z_e - z_q)^2).
        Raises:
            ValueError: if z_e is not a finite, non-empty float (B, code_dim, h, w) tensor.
        """
        # 1. nearest code at each position, Eq. 1-2
        indices = self.nearest_code(z_e)  # (B, h, w)
        counts = torch.bincount(indices.flatten(), minlength=self.num_codes)  # (K,) n_i
        z_q = self._embed(indices).to(z_e.dtype)  # (B, D, h, w)

        # 2. EMA codebook update, Appendix A.1. z_q above holds the codes as they were
        # before this step (as in Sonnet); the next batch sees the moved codes.
        if self.use_ema and self.training:
            self._ema_update(z_e, indices, counts)

        # 3. loss, Eq. 3: codebook term moves e, commitment term moves z_e
        commitment = F.mse_loss(z_e, z_q.detach())  # ||z_e - sg[e]||^2, mean-reduced
        if self.use_ema:
            loss = self.commitment_cost * commitment
        else:
            codebook_term = F.mse_loss(z_q, z_e.detach())  # ||sg[z_e] - e||^2
            loss = codebook_term + self.commitment_cost * commitment

        # 4. straight-through estimator. Written as sg(z_q) + (z_e - sg(z_e)) rather than
        # z_e + sg(z_q - z_e): same gradient (identity to z_e, none to the codebook), but
        # the value is z_q exactly, with no z_e + (z_q - z_e) rounding.
        z_q_st = z_q.detach() + (z_e - z_e.detach())  # (B, D, h, w)

        # 5. bookkeeping
        with torch.no_grad():
            self.usage_counts += counts
        stats = {
            "perplexity": perplexity_of_counts(counts),
            "usage": float((counts > 0).float().mean()),
            "quantization_error": float(commitment.detach()),
        }
        return QuantizerOutput(z_q_st, indices, loss, stats)

    @torch.no_grad()
    def _ema_update(self, z_e: Tensor, indices: Tensor, counts: Tensor) -> None:
        """One EMA step of the cluster sizes N and code sums m, then e = m / N
        (van den Oord, Appendix A.1), with Laplace-smoothed N."""
        gamma = self.ema_decay
        z = self._flatten(z_e.detach()).to(self.ema_code_sum.dtype)  # (N, D)
        code_sum = torch.zeros_like(self.ema_code_sum).index_add_(0, indices.flatten(), z)
        # N_i <- gamma N_i + (1 - gamma) n_i ;  m_i <- gamma m_i + (1 - gamma) sum_j z_j
        n_i = counts.to(self.ema_cluster_size.dtype)  # (K,)
        self.ema_cluster_size.mul_(gamma).add_(n_i, alpha=1 - gamma)
        self.ema_code_sum.mul_(gamma).add_(code_sum, alpha=1 - gamma)
        # Laplace smoothing keeps every N_i > 0: N_i <- (N_i + eps) / (n + K eps) * n
        n = self.ema_cluster_size.sum()
        smoothed = (self.ema_cluster_size + self.ema_eps) / (n + self.num_codes * self.ema_eps) * n
        self.codebook.data.copy_(self.ema_code_sum / smoothed[:, None])  # e_i = m_i / N_i

    # ---- usage over many batches ----------------------------------------------------------

    def reset_usage(self) -> None:
        """Zero the accumulated usage counts (start a new measurement window)."""
        self.usage_counts.zero_()

    def usage(self) -> float:
        """Fraction of the K codes chosen at least once since the last reset, in [0, 1]."""
        return float((self.usage_counts > 0).float().mean())

    def perplexity(self) -> float:
        """exp(entropy) of the accumulated usage distribution, in [1, K]; 0.0 before any
        forward pass since the last reset. 1 means one code does all the work; K means all
        codes are used equally."""
        return perplexity_of_counts(self.usage_counts)

    @torch.no_grad()
    def restart_dead_codes(
        self, z_e_samples: Tensor, generator: torch.Generator | None = None
    ) -> int:
        """Move every dead code (accumulated usage count < ``dead_code_threshold``) onto an
        encoder output drawn at random from ``z_e_samples``, so that it gets chosen again.

        A common remedy for codebook collapse (e.g. Dhariwal et al. 2020, Jukebox,
        arXiv:2005.00341; Zeghidour et al. 2021, SoundStream, arXiv:2107.03312).
        Draws are without replacement when there are enough samples. The usage counts are
        left as they are: call :meth:`reset_usage` to start a new window. With an optimiser
        such as Adam, the restarted rows keep their old moment estimates.

        Args:
            z_e_samples: encoder outputs, (B, D, h, w) or (N, D), float.
            generator: makes the draw reproducible; on the device where indices are drawn
                (CPU unless the generator lives elsewhere).
        Returns:
            how many codes were restarted, in [0, K].
        Raises:
            ValueError: if z_e_samples has the wrong shape, is not floating point, holds no
                vectors or holds NaN/inf values.
        """
        if z_e_samples.ndim == 2 and z_e_samples.shape[1] == self.code_dim:
            samples = z_e_samples
        elif z_e_samples.ndim == 4 and z_e_samples.shape[1] == self.code_dim:
            samples = self._flatten(z_e_samples)  # (N, D)
        else:
            raise ValueError(
                f"z_e_samples must have shape (B, {self.code_dim}, h, w) or (N, "
                f"{self.code_dim}), got {tuple(z_e_samples.shape)}"
            )
        if samples.shape[0] == 0:
            raise ValueError("z_e_samples holds no vectors")
        if not samples.is_floating_point():
            raise ValueError(f"z_e_samples must be a floating-point tensor, got {samples.dtype}")
        if not bool(torch.isfinite(samples).all()):
            raise ValueError("z_e_samples must be finite, got NaN or inf values")
        is_dead = self.usage_counts.float() < self.dead_code_threshold  # (K,)
        dead = is_dead.nonzero().flatten()  # (n_dead,)
        n_dead, n_samples = dead.numel(), samples.shape[0]
        if n_dead == 0:
            return 0
        device = generator.device if generator is not None else torch.device("cpu")
        if n_dead <= n_samples:
            pick = torch.randperm(n_samples, generator=generator, device=device)[:n_dead]
        else:
            pick = torch.randint(n_samples, (n_dead,), generator=generator, device=device)
        new_codes = samples[pick.to(samples.device)].to(self.codebook.dtype)  # (n_dead, D)
        dead = dead.to(self.codebook.device)
        self.codebook.data[dead] = new_codes.to(self.codebook.device)
        if self.use_ema:  # restart the running averages as at initialisation: N = 1, m = e
            self.ema_cluster_size[dead] = 1.0
            self.ema_code_sum[dead] = self.codebook.data[dead]
        return n_dead

    def extra_repr(self) -> str:
        return (
            f"num_codes={self.num_codes}, code_dim={self.code_dim}, "
            f"commitment_cost={self.commitment_cost}, use_ema={self.use_ema}"
        )
