"""Does a representation keep the label? Two probes, scored by cross-validation.

- :func:`knn_accuracy`: a k-nearest-neighbour classifier in the representation's own
  Euclidean distance. It asks whether *nearby* codes share a label, so it depends on the
  geometry (the scale of each dimension, which directions matter).
- :func:`linear_probe_accuracy`: a multinomial logistic regression on standardised
  features (Alain & Bengio 2016, arXiv:1610.01644). It asks whether the label can be
  *read off* linearly, whatever the geometry.

A representation can fail the first and pass the second: an autoencoder's latent is
trained to be decoded, not to make distances meaningful. Both use scikit-learn with
``StratifiedKFold`` without shuffling, so the folds, and the scores, are deterministic.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import Tensor

from ldm_teach.argcheck import check_int


def _features(features: Tensor | np.ndarray, labels: Tensor | np.ndarray, folds: int):
    folds = check_int(folds, "folds", 2)
    x = features.detach().cpu().numpy() if isinstance(features, Tensor) else np.asarray(features)
    y = labels.detach().cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"features must be (N, ...) with N >= 1, got shape {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"labels must have shape ({x.shape[0]},), got {y.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    smallest = int(np.unique(y, return_counts=True)[1].min())
    if smallest < folds:
        raise ValueError(
            f"folds={folds} needs at least {folds} examples of every label, the rarest has "
            f"{smallest}"
        )
    return x.reshape(x.shape[0], -1), y, folds


def knn_accuracy(
    features: Tensor | np.ndarray, labels: Tensor | np.ndarray, k: int = 5, folds: int = 5
) -> float:
    """Mean cross-validated accuracy of a k-NN classifier (Euclidean distance).

    Args:
        features: (N, ...) float, flattened to (N, D) (images, latents).
        labels: (N,) integer labels.
        k: neighbours, an int >= 1 (fewer than the training fold holds).
        folds: stratified folds, an int >= 2, at most the count of the rarest label.
    Returns:
        Accuracy in [0, 1], the mean over the folds.
    Raises:
        ValueError: naming the argument for bad shapes, non-finite features, k < 1 or
            folds out of range.
    """
    x, y, folds = _features(features, labels, folds)
    k = check_int(k, "k", 1, x.shape[0] - x.shape[0] // folds - 1)
    return float(cross_val_score(KNeighborsClassifier(k), x, y, cv=folds).mean())


def linear_probe_accuracy(
    features: Tensor | np.ndarray, labels: Tensor | np.ndarray, folds: int = 5
) -> float:
    """Mean cross-validated accuracy of a linear probe: standardise each feature, then
    L2-regularised multinomial logistic regression (scikit-learn defaults, C = 1).

    Args, Raises: as :func:`knn_accuracy` (without k).
    Returns:
        Accuracy in [0, 1], the mean over the folds.
    """
    x, y, folds = _features(features, labels, folds)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(cross_val_score(probe, x, y, cv=folds).mean())
