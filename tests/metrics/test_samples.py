"""Frechet distance and within-class diversity on the course feature network."""

from __future__ import annotations

import copy

import pytest
import torch

from ldm_teach.data import DigitsDataset
from ldm_teach.metrics.features import DigitsFeatureNet
from ldm_teach.metrics.samples import frechet_distance, within_class_diversity


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return DigitsFeatureNet().eval()


@pytest.fixture(scope="module")
def digits():
    return DigitsDataset("test")


def test_frechet_distance_orders_distortions(net, digits):
    x = digits.images
    same = frechet_distance(x[:180], x[180:], net)
    noisy = frechet_distance(x[:180], (x[180:] + 0.5 * torch.randn_like(x[180:])).clamp(-1, 1), net)
    flat = torch.full_like(x[180:], -1.0) + 0.01 * torch.rand_like(x[180:])
    blank = frechet_distance(x[:180], flat, net)
    assert 0 <= same < noisy < blank


def test_frechet_distance_matches_the_formula(net, digits):
    import numpy as np
    from scipy import linalg

    x, y = digits.images[:120], digits.images[120:240].flip(-1)
    with torch.no_grad():
        a, b = net.embed(x).double().numpy(), net.embed(y).double().numpy()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
    assert frechet_distance(x, y, net) == pytest.approx(expected, rel=1e-3)


def test_diversity_is_zero_for_copies_and_positive_for_real_digits(net, digits):
    x, y = digits.images, digits.labels
    copies = x[y == 3][:1].repeat(6, 1, 1, 1)
    assert within_class_diversity(copies, torch.full((6,), 3), net) == pytest.approx(0, abs=1e-4)
    assert within_class_diversity(x, y, net) > 0.1


def test_bad_inputs(net):
    with pytest.raises(ValueError, match="real must be"):
        frechet_distance(torch.zeros(1, 1, 32, 32), torch.zeros(4, 1, 32, 32), net)
    with pytest.raises(ValueError, match="labels must be an integer tensor of shape"):
        within_class_diversity(torch.zeros(4, 1, 32, 32), torch.zeros(3), net)
    with pytest.raises(ValueError, match="no label"):
        within_class_diversity(torch.zeros(3, 1, 32, 32), torch.arange(3), net)


def test_nan_wrong_size_and_out_of_range_images_are_refused(net, digits):
    x = digits.images[:8]
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(x * float("nan"), x, net)
    with pytest.raises(ValueError, match=r"\(N >= 2, 1, 32, 32\)"):
        frechet_distance(x, torch.rand(4, 1, 16, 16), net)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        frechet_distance(x, x * 100, net)
    with pytest.raises(ValueError, match="integer tensor"):
        within_class_diversity(x, torch.arange(8).float(), net)


def test_the_feature_net_is_an_argument_not_loaded_behind_the_callers_back():
    x = torch.zeros(4, 1, 32, 32)
    with pytest.raises(TypeError, match="DigitsFeatureNet"):
        frechet_distance(x, x, None)
    with pytest.raises(TypeError, match="DigitsFeatureNet"):
        within_class_diversity(x, torch.zeros(4, dtype=torch.long), "digits-features")


def test_images_in_zero_one_are_flagged_and_a_nan_distance_is_not_a_perfect_zero(net):
    from ldm_teach.metrics import DigitsClassifier

    test = DigitsDataset("test")
    unit = (test.images + 1) / 2  # [0, 1] images: plausible, wrong scores without a word
    with pytest.warns(UserWarning, match=r"lies in \[0, 1\]"):
        DigitsClassifier.fit_default().accuracy(unit, test.labels)
    with pytest.warns(UserWarning, match=r"lies in \[0, 1\]"):
        frechet_distance(unit[:50], unit[50:100], net)
    broken = copy.deepcopy(net)
    with torch.no_grad():
        for p in broken.parameters():
            p.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="non-finite"):
        frechet_distance(test.images[:50], test.images[50:100], broken)
