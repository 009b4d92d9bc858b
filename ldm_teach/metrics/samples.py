"""Sample quality for class-conditional digit generators: Frechet distance on the course
feature network, conditional accuracy, and within-class diversity.

Frechet distance (Heusel et al. 2017, arXiv:1706.08500, Eq. 6), computed by torchmetrics'
``FrechetInceptionDistance`` with the Inception network replaced by the pooled features
(64-d) of :class:`~ldm_teach.metrics.features.DigitsFeatureNet`:

    FD = ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^{1/2}).

It is *not* FID: its features come from a small digits CNN, so numbers are comparable only
within this course (lower is better; 0 for identical feature statistics). With a few
hundred samples the estimate is biased upwards (Chong & Forsyth 2020, arXiv:1911.07023);
compare models only at equal sample counts.

Diversity: the mean pairwise Euclidean distance between the pooled features of samples of
the same class, averaged over classes. Mode collapse drives it towards 0; the real test
digits give the reference value.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class _PooledFeatures(nn.Module):
    """The feature extractor torchmetrics calls: images in [-1, 1] -> (B, 64) float64."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net.eval()
        self.num_features = net.widths[-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.net.embed(x.float()).double()


def _default_net(net):
    if net is not None:
        return net
    from ldm_teach.pretrained import load_feature_net

    return load_feature_net("digits-features")


def _check_images(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1:] != (1, 32, 32) or x.shape[0] < 2:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be (N >= 2, 1, 32, 32) images in [-1, 1], got {got}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1.001 or hi > 1.001:
        raise ValueError(f"{name} must lie in [-1, 1] (clamp samples first), got range "
                         f"[{lo:.3g}, {hi:.3g}]")


@torch.no_grad()
def frechet_distance(real: Tensor, fake: Tensor, net: nn.Module | None = None) -> float:
    """Frechet distance between two sets of digit images on DigitsFeatureNet features.

    Args:
        real, fake: (N, 1, 32, 32) float images in [-1, 1], N >= 2 each.
        net: a DigitsFeatureNet (default: the shipped ``digits-features``).
    Returns:
        FD >= 0, a float (feature units squared).
    Raises:
        ValueError: for images of the wrong shape.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    _check_images("real", real)
    _check_images("fake", fake)
    fid = FrechetInceptionDistance(feature=_PooledFeatures(_default_net(net)))
    fid.update(real, real=True)
    fid.update(fake, real=False)
    return max(0.0, float(fid.compute()))


@torch.no_grad()
def within_class_diversity(images: Tensor, labels: Tensor, net: nn.Module | None = None) -> float:
    """Mean pairwise feature distance between images of the same label, averaged over
    labels that have at least two images.

    Args:
        images: (N, 1, 32, 32) in [-1, 1]; labels: (N,) integer labels.
        net: a DigitsFeatureNet (default: the shipped ``digits-features``).
    Returns:
        a float >= 0 (0 if every image of each class is identical).
    Raises:
        ValueError: for mismatched shapes or when no label has two images.
    """
    _check_images("images", images)
    if not isinstance(labels, Tensor) or labels.is_floating_point() or \
            labels.shape != images.shape[:1]:
        got = f"{labels.dtype} {tuple(labels.shape)}" if isinstance(labels, Tensor) else \
            type(labels).__name__
        raise ValueError(f"labels must be an integer tensor of shape ({images.shape[0]},), "
                         f"got {got}")
    emb = _default_net(net).eval().embed(images.float())  # (N, 64)
    per_class = []
    for c in labels.unique():
        e = emb[labels == c]
        n = e.shape[0]
        if n < 2:
            continue
        d = torch.cdist(e, e)  # (n, n), zero diagonal
        per_class.append(float(d.sum() / (n * (n - 1))))
    if not per_class:
        raise ValueError("no label has at least two images")
    return sum(per_class) / len(per_class)
