"""Downsample and Upsample (ldm_teach.nn.sampling)."""

import pytest
import torch
from torch import nn

from ldm_teach.nn.sampling import Downsample, Upsample


def _identity_kernel(conv: nn.Conv2d) -> None:
    """Make a 3x3 conv copy each channel from the kernel's centre tap."""
    with torch.no_grad():
        conv.weight.zero_()
        for c in range(conv.out_channels):
            conv.weight[c, c, 1, 1] = 1.0
        conv.bias.zero_()


@pytest.mark.parametrize("H,W", [(8, 8), (7, 5), (1, 2)])
def test_downsample_shape_is_ceil_half(H, W):
    out = Downsample(3)(torch.randn(2, 3, H, W))
    assert out.shape == (2, 3, -(-H // 2), -(-W // 2))


@pytest.mark.parametrize("H,W", [(4, 4), (3, 5), (1, 1)])
def test_upsample_shape_is_double(H, W):
    assert Upsample(3)(torch.randn(2, 3, H, W)).shape == (2, 3, 2 * H, 2 * W)


def test_downsample_with_centre_tap_keeps_even_pixels():
    down = Downsample(4)
    _identity_kernel(down.conv)
    x = torch.randn(2, 4, 6, 6)
    assert torch.equal(down(x), x[:, :, ::2, ::2])


def test_upsample_with_centre_tap_is_nearest_neighbour():
    up = Upsample(4)
    _identity_kernel(up.conv)
    x = torch.randn(2, 4, 3, 3)
    ref = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert torch.equal(up(x), ref)


def test_match_diffusers_conv_samplers():
    resnet = pytest.importorskip("diffusers.models.resnet")
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6)
    down, ref_down = Downsample(8), resnet.Downsample2D(8, use_conv=True, padding=1)
    ref_down.conv.load_state_dict(down.conv.state_dict())
    assert torch.allclose(down(x), ref_down(x), atol=1e-6)
    up, ref_up = Upsample(8), resnet.Upsample2D(8, use_conv=True)
    ref_up.conv.load_state_dict(up.conv.state_dict())
    assert torch.allclose(up(x), ref_up(x), atol=1e-6)
