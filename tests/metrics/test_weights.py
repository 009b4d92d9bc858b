"""Parameter counts and spectral norms of convolutions (ldm_teach.metrics.weights)."""

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ldm_teach.metrics import conv_spectral_norms, parameter_count


def test_parameter_count_closed_form_shared_once_and_trainable_only():
    assert parameter_count(nn.Linear(3, 4)) == 3 * 4 + 4
    shared = nn.Linear(2, 2)
    net = nn.Sequential(shared, nn.ReLU(), shared, nn.Conv2d(1, 2, 3))
    assert parameter_count(net) == 6 + (2 * 9 + 2)
    net[3].requires_grad_(False)
    assert parameter_count(net, trainable_only=True) == 6


def test_spectral_norm_of_a_known_weight():
    conv = nn.Conv2d(2, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, -1.0]]).view(2, 2, 1, 1))
    assert conv_spectral_norms(nn.Sequential(conv, nn.ReLU())) == pytest.approx([3.0])
    assert conv_spectral_norms(nn.Linear(2, 2)) == []


def test_spectral_normalisation_brings_the_norm_to_one():
    torch.manual_seed(0)
    conv = spectral_norm(nn.Conv2d(3, 8, 3))
    conv.train()
    for _ in range(30):  # power iterations happen on training-mode reads of the weight
        conv(torch.randn(1, 3, 8, 8))
    (sigma,) = conv_spectral_norms(conv)
    assert sigma == pytest.approx(1.0, abs=1e-2)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="module"):
        parameter_count("net")
    with pytest.raises(ValueError, match="module"):
        conv_spectral_norms(None)
    with pytest.raises(ValueError, match="trainable_only"):
        parameter_count(nn.Linear(1, 1), trainable_only="no")
