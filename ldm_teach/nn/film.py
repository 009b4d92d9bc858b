"""Feature-wise linear modulation, FiLM (Perez et al. 2018, arXiv:1709.07871, Eq. 1-2):

    γ, β = f(c), g(c)                          # one scale and one shift per channel
    FiLM(x | c) = γ ⊙ x + β                    # broadcast over H and W

the cheapest way to condition a feature map on a vector c (a class or pooled-text
embedding): each channel is rescaled and shifted, but pixels cannot attend to different
parts of the condition as they do with cross-attention (Rombach et al. 2022,
arXiv:2112.10752, Sec. 3.3). Here γ = 1 + scale(c) and β = shift(c) come from one Linear
whose output is split in halves; the Linear starts at zero, so FiLM starts as the
identity. Perez et al. likewise predict Δγ = γ - 1 rather than γ, so that an untrained
generator does not zero out the features; the timestep "scale-shift" of ADM (Dhariwal &
Nichol 2021, arXiv:2105.05233) uses the same form.

Shape alphabet: B batch, C channels (num_features), H/W height/width.
"""

from __future__ import annotations

from torch import Tensor, nn


class FiLM(nn.Module):
    """``x * (1 + scale(cond)) + shift(cond)`` per channel.

    Args:
        num_features: C, channels of the modulated feature map.
        cond_dim: width of the condition vector.
    Shapes:
        x (B, C, H, W) float, cond (B, cond_dim) same dtype -> (B, C, H, W).
    Raises:
        ValueError: if a width is not positive, or (in forward) x or cond has the wrong
            shape.
    """

    def __init__(self, num_features: int, cond_dim: int) -> None:
        super().__init__()
        if num_features <= 0 or cond_dim <= 0:
            raise ValueError(
                f"num_features and cond_dim must be positive, got {num_features} and {cond_dim}"
            )
        self.num_features = num_features
        self.cond_dim = cond_dim
        self.to_scale_shift = nn.Linear(cond_dim, 2 * num_features)  # [scale, shift]
        nn.init.zeros_(self.to_scale_shift.weight)  # γ = 1, β = 0: identity at init
        nn.init.zeros_(self.to_scale_shift.bias)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(
                f"x must have shape (B, num_features={self.num_features}, H, W), "
                f"got {tuple(x.shape)}"
            )
        if cond.shape != (x.shape[0], self.cond_dim):
            raise ValueError(
                f"cond must have shape (B, cond_dim) = ({x.shape[0]}, {self.cond_dim}), "
                f"got {tuple(cond.shape)}"
            )
        scale, shift = self.to_scale_shift(cond).chunk(2, dim=1)  # (B, C) each
        return x * (1 + scale[:, :, None, None]) + shift[:, :, None, None]  # (B, C, H, W)
