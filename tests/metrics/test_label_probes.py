"""k-NN and linear probes (ldm_teach.metrics.label_probes)."""

import numpy as np
import pytest
import torch

from ldm_teach.metrics import knn_accuracy, linear_probe_accuracy


def _clusters(scale: float = 1.0):
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(20)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = centres[labels] + 0.5 * torch.randn(60, 2, generator=g)
    return points * torch.tensor([1.0, scale]), labels


def test_separated_clusters_are_read_perfectly_by_both():
    x, y = _clusters()
    assert knn_accuracy(x, y) == 1.0 and linear_probe_accuracy(x, y) == 1.0
    assert knn_accuracy(x.numpy().reshape(60, 1, 2), y.numpy(), k=3, folds=4) == 1.0


def test_a_stretched_noise_dimension_fools_knn_not_the_linear_probe():
    x, y = _clusters()
    noise = 1000 * torch.randn(60, 1, generator=torch.Generator().manual_seed(1))
    stretched = torch.cat([x, noise], dim=1)  # distance is now all noise
    assert knn_accuracy(stretched, y) < 0.7
    assert linear_probe_accuracy(stretched, y) == 1.0  # standardised first


def test_bad_inputs_are_named():
    x, y = _clusters()
    with pytest.raises(ValueError, match="labels"):
        knn_accuracy(x, y[:-1])
    with pytest.raises(ValueError, match="folds"):
        linear_probe_accuracy(x, y, folds=21)
    with pytest.raises(ValueError, match="k must"):
        knn_accuracy(x, y, k=0)
    with pytest.raises(ValueError, match="NaN"):
        knn_accuracy(np.full((60, 2), np.nan), y)
    with pytest.raises(ValueError, match="features"):
        knn_accuracy(torch.zeros(60), y)
