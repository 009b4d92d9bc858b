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

import math
import time

import torch
from torch import Tensor, nn

from ldm_teach.argcheck import check_int
from ldm_teach.data import DigitsDataset
from ldm_teach.data.digits import warn_if_unit_range
from ldm_teach.metrics.classifier import DigitsClassifier


class _PooledFeatures(nn.Module):
    """The feature extractor torchmetrics calls: images in [-1, 1] -> (B, 64) float64."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net.eval()
        self.num_features = net.widths[-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.net.embed(x.float()).double()


def _check_net(net: nn.Module) -> nn.Module:
    if not isinstance(net, nn.Module) or not callable(getattr(net, "embed", None)):
        raise TypeError(
            f"net must be a DigitsFeatureNet (e.g. "
            f"ldm_teach.pretrained.load_feature_net('digits-features')), got {type(net).__name__}"
        )
    return net


def _check_images(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1:] != (1, 32, 32) or x.shape[0] < 2:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be (N >= 2, 1, 32, 32) images in [-1, 1], got {got}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1.001 or hi > 1.001:
        raise ValueError(
            f"{name} must lie in [-1, 1] (clamp samples first), got range [{lo:.3g}, {hi:.3g}]"
        )


@torch.no_grad()
def frechet_distance(real: Tensor, fake: Tensor, net: nn.Module) -> float:
    """Frechet distance between two sets of digit images on DigitsFeatureNet features.

    Args:
        real, fake: (N, 1, 32, 32) float images in [-1, 1], N >= 2 each.
        net: a DigitsFeatureNet, e.g. ``load_feature_net("digits-features")``.
    Returns:
        FD >= 0, a float (feature units squared).
    Raises:
        ValueError: for images of the wrong shape.
        TypeError: if net is not a DigitsFeatureNet.
        FloatingPointError: if the distance is not finite (non-finite features).
    Warns:
        UserWarning: if every value lies in [0, 1] (images in [0, 1], not [-1, 1]).
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    _check_images("real", real)
    _check_images("fake", fake)
    warn_if_unit_range("real", real)
    warn_if_unit_range("fake", fake)
    # sync_on_compute=False: the images given are all there is, even in a process of a
    # data-parallel run (torchmetrics would otherwise gather them from the other processes)
    fid = FrechetInceptionDistance(feature=_PooledFeatures(_check_net(net)), sync_on_compute=False)
    fid.update(real, real=True)
    fid.update(fake, real=False)
    # non-finite features must not reach the matrix square root: LAPACK on a NaN matrix
    # can crash the process (seen with torchmetrics 1.9) instead of returning NaN
    states = (fid.real_features_sum, fid.real_features_cov_sum)
    states += (fid.fake_features_sum, fid.fake_features_cov_sum)
    if not all(bool(torch.isfinite(s).all()) for s in states):
        raise FloatingPointError(
            "the Frechet distance is nan: the feature net produced "
            "non-finite features (are its weights finite?)"
        )
    value = float(fid.compute())
    if not math.isfinite(value):  # e.g. a feature net with NaN weights; never a perfect 0
        raise FloatingPointError(
            f"the Frechet distance is {value}: the feature net produced "
            "non-finite features (are its weights finite?)"
        )
    return max(0.0, value)  # sqrtm rounding can give -1e-12 for identical sets


@torch.no_grad()
def within_class_diversity(images: Tensor, labels: Tensor, net: nn.Module) -> float:
    """Mean pairwise feature distance between images of the same label, averaged over
    labels that have at least two images.

    Args:
        images: (N, 1, 32, 32) in [-1, 1]; labels: (N,) integer labels.
        net: a DigitsFeatureNet, e.g. ``load_feature_net("digits-features")``.
    Returns:
        a float >= 0 (0 if every image of each class is identical).
    Raises:
        ValueError: for mismatched shapes or when no label has two images.
    """
    _check_images("images", images)
    if (
        not isinstance(labels, Tensor)
        or labels.is_floating_point()
        or labels.shape != images.shape[:1]
    ):
        got = (
            f"{labels.dtype} {tuple(labels.shape)}"
            if isinstance(labels, Tensor)
            else type(labels).__name__
        )
        raise ValueError(
            f"labels must be an integer tensor of shape ({images.shape[0]},), got {got}"
        )
    warn_if_unit_range("images", images)
    emb = _check_net(net).eval().embed(images.float())  # (N, 64)
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


#: Seed of the noise behind every card's sample measurements (``measure_ldm_samples``).
EVAL_SEED = 1234
#: Samples per digit class of a card's measurements: 10 x 10 = 100 samples.
EVAL_PER_CLASS = 10


@torch.no_grad()
def measure_ldm_samples(
    ldm,
    num_inference_steps: int,
    guidance_scale: float,
    *,
    feature_net: nn.Module,
    seed: int = EVAL_SEED,
    per_class: int = EVAL_PER_CLASS,
    sampler: str = "ddim",
) -> dict:
    """Sample ``per_class`` digits of each class and measure them against the test digits.

    Sampling is DDIM with ``num_inference_steps`` steps and classifier-free guidance
    ``guidance_scale`` (``sampler="ddpm"`` runs all T ancestral steps instead), the noise
    seeded by ``seed``; the samples are judged by the independent
    :class:`~ldm_teach.metrics.DigitsClassifier` and by ``feature_net``.

    Args:
        ldm: a 10-class digits :class:`~ldm_teach.models.LatentDiffusion` producing 1 x 32
            x 32 images.
        num_inference_steps, guidance_scale: as for ``LatentDiffusion.sample``.
        feature_net: the DigitsFeatureNet of the Fréchet distance and the diversity, e.g.
            ``ldm_teach.pretrained.load_feature_net("digits-features")``.
        seed: an int in [0, 2**63).
        per_class: samples per class, an int in [2, 200] (one batch of 10 x per_class).
        sampler: "ddim" or "ddpm".
    Returns:
        {"classifier_accuracy": in [0, 1], "frechet_distance": >= 0 (FID's formula, Heusel
        et al. 2017, arXiv:1706.08500, on the course features against the 360 test digits;
        lower is better), "within_class_diversity": >= 0, "sampling_wall_s": seconds}.
    Raises:
        ValueError: if per_class or seed is out of range, and as ``LatentDiffusion.sample``
            does for bad steps, sampler or guidance.
        TypeError: if feature_net is not a DigitsFeatureNet.
    """
    # one batch of 10 * per_class samples: 200 per class needs about 1.5 GB
    per_class = check_int(per_class, "per_class", 2, 200)
    seed = check_int(seed, "seed", 0, 2**63 - 1, expected="an int in [0, 2**63)")
    _check_net(feature_net)

    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(10).repeat_interleave(per_class)
    t0 = time.perf_counter()
    # DDPM runs all T steps: num_inference_steps is DDIM's only
    steps = {"num_inference_steps": num_inference_steps} if sampler == "ddim" else {}
    samples = ldm.sample(
        len(y),
        32,
        y,
        guidance_scale=guidance_scale,
        sampler=sampler,
        generator=gen,
        progress=False,
        **steps,
    )
    sample_s = time.perf_counter() - t0
    test_images = DigitsDataset(split="test", size=32).images
    return {
        "classifier_accuracy": round(DigitsClassifier.fit_default().accuracy(samples, y), 4),
        "frechet_distance": round(frechet_distance(test_images, samples, feature_net), 3),
        "within_class_diversity": round(within_class_diversity(samples, y, feature_net), 4),
        "sampling_wall_s": round(sample_s, 2),
    }
