"""The course's perceptual feature distance (DigitsFeatureNet + FeatureDistance)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ldm_teach.data import DigitsDataset
from ldm_teach.metrics.features import DigitsFeatureNet, FeatureDistance
from ldm_teach.pretrained.recipes import FEATURE_RECIPES
from ldm_teach.pretrained.trainers import train_digits_feature_net


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return DigitsFeatureNet().eval()


def test_feature_shapes_and_logits(net):
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    feats = net.features(x)
    assert [tuple(f.shape) for f in feats] == [
        (3, 16, 32, 32),
        (3, 32, 16, 16),
        (3, 64, 8, 8),
        (3, 64, 4, 4),
    ]
    assert net(x).shape == (3, 10)


def test_distance_is_zero_on_identical_images_and_positive_otherwise(net):
    dist = FeatureDistance(net)
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    y = x.flip(-1)
    assert torch.allclose(dist(x, x), torch.zeros(4), atol=1e-6)
    d = dist(x, y)
    assert d.shape == (4,) and bool((d > 0).all())
    assert torch.allclose(d, dist(y, x), atol=1e-6)  # symmetric


def test_distance_matches_the_formula_by_hand(net):
    dist = FeatureDistance(net)
    x, y = torch.rand(2, 1, 1, 32, 32) * 2 - 1
    expected = 0.0
    for fx, fy in zip(net.features(x), net.features(y), strict=False):
        nx = fx / fx.norm(dim=1, keepdim=True)
        ny = fy / fy.norm(dim=1, keepdim=True)
        expected += ((nx - ny) ** 2).sum(1).mean()
    assert dist(x, y).item() == pytest.approx(expected.item(), rel=1e-5)


def test_gradients_reach_the_input_but_not_the_frozen_net(net):
    dist = FeatureDistance(net)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    y = (torch.rand(2, 1, 32, 32) * 2 - 1).requires_grad_()
    dist(x, y).sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in dist.parameters())
    dist.train()
    assert not dist.net.training  # the feature net stays in eval mode


def test_bad_inputs_fail_clearly(net):
    dist = FeatureDistance(net)
    with pytest.raises(ValueError, match="same shape"):
        dist(torch.zeros(1, 1, 32, 32), torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        net.features(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="divisible by 8"):
        net.features(torch.zeros(1, 1, 30, 30))
    with pytest.raises(ValueError, match="divisible by norm_groups"):
        DigitsFeatureNet(widths=(12,))


def test_short_training_learns_the_digits():
    train = DigitsDataset("train")
    test = DigitsDataset("test")
    config = replace(FEATURE_RECIPES["digits-features"].train, steps=60, seed=0)
    net, losses = train_digits_feature_net(train.images, train.labels, config)
    assert losses[-1] < losses[0]
    with torch.no_grad():
        acc = (net(test.images).argmax(1) == test.labels).float().mean().item()
    assert acc > 0.5  # 60 steps: far above chance (0.1)


def test_distance_refuses_a_target_in_0_255(net):
    # found by the third bad-input pass: [0, 255] images gave a plausible distance
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with pytest.raises(ValueError, match=r"y must be images in \[-1, 1\], got values up to"):
        FeatureDistance(net)(x, x * 127.5 + 127.5)
