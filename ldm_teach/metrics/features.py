"""A perceptual distance the course trains itself: feature distance on a small digits CNN.

LPIPS (Zhang et al. 2018, arXiv:1801.03924) compares two images in the feature space of an
ImageNet network (AlexNet/VGG) whose weights must be downloaded. So that the course works
offline, it also ships :class:`DigitsFeatureNet`, a four-level CNN trained here to
classify the scikit-learn digits (``ldm-teach train digits-features``), and defines

    d(x, y) = sum_l  1/(H_l W_l) sum_{h,w} || n(F_l(x))_{hw} - n(F_l(y))_{hw} ||_2^2     (*)

where F_l is the activation of level l (C_l x H_l x W_l) and n(.) scales each spatial
feature vector to unit length over channels. This is LPIPS Eq. 1 with every learned
channel weight w_l set to 1 (the paper's "baseline" variant, Sec. 3), on a different
network and different data. It is *not* LPIPS: it knows digits, not natural images, and
it was not calibrated on human judgements. It is named for what it is.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.data.digits import warn_if_unit_range
from ldm_teach.nn.norm import check_widths

FEATURE_WIDTHS = (16, 32, 64, 64)  # channels of the four levels at 32, 16, 8, 4 px


class DigitsFeatureNet(nn.Module):
    """Four conv levels (3x3 conv, GroupNorm, SiLU, twice; then 2x2 average pooling between
    levels) and a linear classifier on the pooled last level.

    Input: (B, 1, 32, 32) float images in [-1, 1] (as :class:`ldm_teach.data.DigitsDataset`).
    ``forward`` gives logits (B, 10); :meth:`features` the four activations
    (B, 16, 32, 32), (B, 32, 16, 16), (B, 64, 8, 8), (B, 64, 4, 4).
    """

    def __init__(self, widths: tuple[int, ...] = FEATURE_WIDTHS, num_classes: int = 10) -> None:
        super().__init__()
        if len(widths) < 1:
            raise ValueError("widths must name at least one level")
        for w in widths:
            check_widths(w, (1,), 8)
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.widths = tuple(widths)
        levels, c_in = [], 1
        for w in widths:
            levels.append(
                nn.Sequential(
                    nn.Conv2d(c_in, w, 3, padding=1),
                    nn.GroupNorm(8, w),
                    nn.SiLU(),
                    nn.Conv2d(w, w, 3, padding=1),
                    nn.GroupNorm(8, w),
                    nn.SiLU(),
                )
            )
            c_in = w
        self.levels = nn.ModuleList(levels)
        self.head = nn.Linear(c_in, num_classes)

    def _check(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"x must have shape (B, 1, H, W), got {tuple(x.shape)}")
        need = 2 ** (len(self.widths) - 1)
        if x.shape[-1] % need or x.shape[-2] % need:
            raise ValueError(
                f"x's height and width must be divisible by {need}, got {tuple(x.shape[-2:])}"
            )

    def features(self, x: Tensor) -> list[Tensor]:
        """Activations of every level, from fine (full size) to coarse (size / 8)."""
        self._check(x)
        feats = []
        for i, level in enumerate(self.levels):
            if i > 0:
                x = F.avg_pool2d(x, 2)
            x = level(x)
            feats.append(x)
        return feats

    def embed(self, x: Tensor) -> Tensor:
        """Global-average-pooled last-level features (B, widths[-1]), the input of the
        classifier head: the feature space of the course's Frechet distance."""
        return self.features(x)[-1].mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (B, num_classes)."""
        return self.head(self.embed(x))


def _unit_normalize(f: Tensor, eps: float = 1e-10) -> Tensor:
    """Each spatial feature vector scaled to unit L2 norm over channels (LPIPS's n(.))."""
    return f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


class FeatureDistance(nn.Module):
    """The course's perceptual distance (*) on a frozen :class:`DigitsFeatureNet`.

    ``forward(x, y)`` takes two image batches (B, 1, H, W) in [-1, 1] and returns the
    distance per image, (B,), float, >= 0 (0 when x == y). Gradients flow to both inputs,
    so it can be a training loss; the network's own weights are frozen.

    Raises ValueError if x and y differ in shape or are not (B, 1, H, W), or the target y
    has values beyond 10 in magnitude (images in [0, 255] instead of [-1, 1]).
    """

    def __init__(self, net: DigitsFeatureNet) -> None:
        super().__init__()
        if not isinstance(net, DigitsFeatureNet):
            raise TypeError(
                f"net must be a DigitsFeatureNet (e.g. load_feature_net()), got "
                f"{type(net).__name__}"
            )
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> FeatureDistance:
        # the feature net stays in eval mode whatever the caller's model does
        super().train(mode)
        self.net.eval()
        return self

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if x.shape != y.shape:
            raise ValueError(
                f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        # images in [-1, 1]; values far beyond are images in [0, 255]
        for name, image in (("x", x), ("y", y)):
            if image.numel() and float(image.detach().abs().max()) > 10.0:
                raise ValueError(
                    f"{name} must be images in [-1, 1], got values up to "
                    f"{float(image.detach().abs().max()):g} in magnitude; images "
                    f"in [0, 255] become {name} / 127.5 - 1"
                )
        warn_if_unit_range("x", x)
        warn_if_unit_range("y", y)
        total = x.new_zeros(x.shape[0])
        for fx, fy in zip(self.net.features(x), self.net.features(y), strict=False):
            diff = (_unit_normalize(fx) - _unit_normalize(fy)).pow(2).sum(dim=1)  # (B, h, w)
            total = total + diff.mean(dim=(1, 2))
        return total
