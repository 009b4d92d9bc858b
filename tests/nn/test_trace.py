"""Output shapes read with forward hooks (ldm_teach.nn.trace)."""

import pytest
import torch
from torch import nn

from ldm_teach.nn import output_shapes


def _net():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, stride=2))


def test_kinds_and_names_in_execution_order_and_hooks_removed():
    net, x = _net(), torch.zeros(1, 1, 9, 9)
    assert output_shapes(net, x, kinds=(nn.Conv2d,)) == [("0", (1, 4, 9, 9)), ("2", (1, 8, 4, 4))]
    assert output_shapes(net, x, names=("1",)) == [("1", (1, 4, 9, 9))]
    assert [n for n, _ in output_shapes(net, x)] == ["0", "1", "2"]  # every leaf
    assert all(not m._forward_hooks for m in net.modules())


def test_a_module_that_runs_twice_appears_twice():
    relu = nn.ReLU()
    net = nn.Sequential(relu, nn.Identity(), relu)
    assert output_shapes(net, torch.zeros(2, 3), kinds=(nn.ReLU,)) == [("0", (2, 3))] * 2


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="names"):
        output_shapes(_net(), torch.zeros(1, 1, 9, 9), names=("conv_in",))
    with pytest.raises(ValueError, match="kinds"):
        output_shapes(_net(), torch.zeros(1, 1, 9, 9), kinds=nn.Conv2d)
    with pytest.raises(ValueError, match="module"):
        output_shapes("net", torch.zeros(1))
