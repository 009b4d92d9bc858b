"""PatchGAN discriminator for the adversarial term of the autoencoder loss
(Isola et al. 2017 "pix2pix", arXiv:1611.07004, Sec. 3.2.2 and App. 6.1.2; used by
Esser et al. 2021 "VQGAN", arXiv:2012.09841, Sec. 3.2, and Rombach et al. 2022,
arXiv:2112.10752, Sec. 3.1 and App. G).

Instead of one real/fake score per image, the network scores every N x N patch: it is a
stack of 4x4 convolutions with no pooling and no fully connected layer, so its output is a
map of logits, one per overlapping patch. This is the ``NLayerDiscriminator`` of the pix2pix
and taming-transformers code:

    conv 4x4 stride 2  (C_img -> nf)                          LeakyReLU(0.2)
    conv 4x4 stride 2  (nf * 2^(i-1) -> nf * 2^i), i = 1..n-1  norm, LeakyReLU(0.2)
    conv 4x4 stride 1  (-> nf * 2^n)                           norm, LeakyReLU(0.2)
    conv 4x4 stride 1  (-> 1)                                  logits
    (widths are capped at 8 * nf; nf = base_channels, n = num_layers)

Every convolution has padding 1, so a stride-2 conv maps a side s to floor(s / 2) and a
stride-1 conv maps it to s - 1. The output map therefore has side

    h' = floor(H / 2^n) - 2,   w' = floor(W / 2^n) - 2          (output_size)

and each logit sees a receptive field of 9 * 2^n - 2 pixels (16, 34, 70 for n = 1, 2, 3;
the "70 x 70 PatchGAN" of pix2pix is n = 3).             (receptive_field)

Weights are initialised from N(0, 0.02), norm scales from N(1, 0.02), as in pix2pix.
"""

from __future__ import annotations

import math

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ldm_teach.argcheck import check_bool
from ldm_teach.nn import group_norm

NORMS = ("batch", "group", "none")


def _norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        # up to 32 groups (as everywhere in ldm_teach), fewer when the width is small
        return group_norm(channels, math.gcd(32, channels))
    return nn.Identity()


class PatchDiscriminator(nn.Module):
    """The pix2pix / taming ``NLayerDiscriminator``: image -> map of patch logits.

    Args:
        in_channels: image channels C_img (1 for digits, 3 for photos).
        base_channels: width nf of the first convolution (64 in pix2pix and taming).
        num_layers: n, the number of stride-2 convolutions, >= 1 (3 in pix2pix and taming).
        spectral_norm: wrap every convolution in spectral normalisation (Miyato et al. 2018,
            arXiv:1802.05957) through ``torch.nn.utils.parametrizations.spectral_norm``.
            Spectral norm replaces batch norm, so it needs ``norm="none"`` or ``"group"``.
        norm: normalisation after the inner convolutions: ``"batch"`` (pix2pix and taming),
            ``"group"`` or ``"none"``. Convolutions followed by a norm have no bias.
    Shapes:
        x: (B, in_channels, H, W), float, images in [-1, 1]; H, W >= 3 * 2^num_layers.
        returns: (B, 1, floor(H / 2^n) - 2, floor(W / 2^n) - 2) logits (no sigmoid);
            32x32 -> 2x2 and 64x64 -> 6x6 for n = 3.
    Raises:
        ValueError: for a non-positive width or layer count, an unknown ``norm``, or
            ``spectral_norm=True`` with ``norm="batch"``.
    """

    def __init__(
        self,
        in_channels: int,
        base_channels: int = 64,
        num_layers: int = 3,
        spectral_norm: bool = False,
        norm: str = "batch",
    ) -> None:
        spectral_norm = check_bool(spectral_norm, "spectral_norm")
        super().__init__()
        if in_channels <= 0:
            raise ValueError(f"in_channels must be positive, got {in_channels}")
        if base_channels <= 0:
            raise ValueError(f"base_channels must be positive, got {base_channels}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if spectral_norm and norm == "batch":
            raise ValueError(
                "spectral_norm=True replaces batch norm; pass norm='none' (or 'group')"
            )
        self.in_channels = in_channels
        self.num_layers = num_layers
        bias = norm == "none"  # a norm right after the conv would cancel its bias

        # widths nf * min(2^i, 8) for i = 0..n, as in pix2pix
        widths = [base_channels * min(2**i, 8) for i in range(num_layers + 1)]
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, widths[0], 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        for i in range(1, num_layers):  # the other stride-2 convolutions
            layers += [
                nn.Conv2d(widths[i - 1], widths[i], 4, stride=2, padding=1, bias=bias),
                _norm_layer(norm, widths[i]),
                nn.LeakyReLU(0.2),
            ]
        layers += [  # one stride-1 convolution, then the 1-channel logit map
            nn.Conv2d(widths[-2], widths[-1], 4, stride=1, padding=1, bias=bias),
            _norm_layer(norm, widths[-1]),
            nn.LeakyReLU(0.2),
            nn.Conv2d(widths[-1], 1, 4, stride=1, padding=1),
        ]
        self.main = nn.Sequential(*layers)

        self.apply(_init_weights)
        if spectral_norm:  # after the init: it reparametrises the initialised weight
            for module in self.main:
                if isinstance(module, nn.Conv2d):
                    _spectral_norm(module)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(h', w') of the logit map for an H x W input: floor(s / 2^n) - 2 per side."""
        f = 2**self.num_layers
        return height // f - 2, width // f - 2

    @property
    def receptive_field(self) -> int:
        """Side in pixels of the patch each logit sees: 1 + sum_l (k - 1) * prod(strides
        before l) with k = 4, which is 9 * 2^n - 2 (70 for n = 3)."""
        return 9 * 2**self.num_layers - 2

    def forward(self, x: Tensor) -> Tensor:
        """Patch logits D(x): (B, C_img, H, W) -> (B, 1, h', w'), see :meth:`output_size`.

        Raises:
            ValueError: if x is not (B, in_channels, H, W) or too small for one patch.
        """
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"x must have shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        h, w = self.output_size(x.shape[2], x.shape[3])
        if h < 1 or w < 1:
            raise ValueError(
                f"x is {x.shape[2]}x{x.shape[3]}, too small for num_layers={self.num_layers}: "
                f"H and W must be >= 3 * 2^num_layers = {3 * 2**self.num_layers}"
            )
        return self.main(x)  # (B, 1, h', w')


def _init_weights(module: nn.Module) -> None:
    """pix2pix init: conv weights ~ N(0, 0.02); norm scales ~ N(1, 0.02), shifts 0."""
    if isinstance(module, nn.Conv2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
