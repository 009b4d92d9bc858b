"""FiLM (ldm_teach.nn.film): identity at init, the closed form x * (1 + scale) + shift."""

import pytest
import torch

from ldm_teach.nn.film import FiLM


def test_identity_at_init():
    film = FiLM(6, 4)
    assert not film.to_scale_shift.weight.any() and not film.to_scale_shift.bias.any()
    x, cond = torch.randn(2, 6, 3, 5), torch.randn(2, 4)
    assert torch.equal(film(x, cond), x)


def test_closed_form_with_set_weights():
    C, D = 3, 2
    film = FiLM(C, D)
    with torch.no_grad():
        film.to_scale_shift.weight.copy_(torch.arange(2 * C * D, dtype=torch.float32).view(-1, D))
        film.to_scale_shift.bias.copy_(torch.tensor([0.5, -1.0, 2.0, 0.1, 0.2, 0.3]))
    cond = torch.tensor([[1.0, -1.0]])
    # rows i of W are (2i, 2i+1): W @ [1, -1] = -1 for every row, plus the bias
    scale = torch.tensor([-0.5, -2.0, 1.0])  # first C outputs
    shift = torch.tensor([-0.9, -0.8, -0.7])  # last C outputs
    x = torch.randn(1, C, 2, 2)
    expected = x * (1 + scale).view(1, C, 1, 1) + shift.view(1, C, 1, 1)
    assert torch.allclose(film(x, cond), expected, atol=1e-6)


def test_each_batch_item_uses_its_own_condition():
    torch.manual_seed(0)
    film = FiLM(4, 3)
    torch.nn.init.normal_(film.to_scale_shift.weight)
    x, cond = torch.randn(3, 4, 2, 2), torch.randn(3, 3)
    assert torch.allclose(film(x, cond)[1:2], film(x[1:2], cond[1:2]), atol=1e-6)


def test_modulation_is_per_channel_and_constant_over_pixels():
    # with x = 1 everywhere, the output is 1 + scale + shift at every pixel of a channel
    torch.manual_seed(1)
    film = FiLM(5, 2)
    torch.nn.init.normal_(film.to_scale_shift.weight)
    out = film(torch.ones(2, 5, 3, 4), torch.randn(2, 2))
    assert torch.allclose(out, out[:, :, :1, :1].expand_as(out))


@pytest.mark.parametrize(
    "x_shape,cond_shape,match",
    [
        ((2, 5, 3, 3), (2, 4), "num_features=6"),
        ((2, 6, 3), (2, 4), "num_features=6"),
        ((2, 6, 3, 3), (2, 5), r"cond must have shape \(B, cond_dim\) = \(2, 4\)"),
        ((2, 6, 3, 3), (3, 4), "cond must have shape"),
    ],
)
def test_wrong_shapes_raise(x_shape, cond_shape, match):
    with pytest.raises(ValueError, match=match):
        FiLM(6, 4)(torch.randn(x_shape), torch.randn(cond_shape))


def test_non_positive_sizes_raise():
    with pytest.raises(ValueError, match="cond_dim"):
        FiLM(4, 0)
