"""FLOPs and time of one UNet training step (ldm_teach.metrics.step_cost)."""

import pytest
import torch
from torch import nn

from ldm_teach.metrics import count_flops, unet_step_cost


class PointwiseDenoiser(nn.Module):
    """model(x, t) = W x per pixel, a 1x1 convolution without bias (t ignored)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 1, bias=False)

    def forward(self, x, t):
        return self.conv(x)


def test_flops_are_the_closed_form_of_a_pointwise_conv():
    c, side, batch = 3, 4, 2
    out = unet_step_cost(PointwiseDenoiser(c), c, side, batch=batch, repeats=1)
    forward = 2 * batch * side * side * c * c
    # backward: the weight gradient only (x needs none), as many FLOPs as the forward
    assert out["flops"] == 2 * forward
    assert out["numbers"] == c * side * side and out["step_s"] > 0


def test_matches_count_flops_on_the_same_seeded_batch():
    model = PointwiseDenoiser(4)
    x = torch.randn(3, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    t = torch.randint(0, 10, (3,), generator=torch.Generator().manual_seed(6))
    expected = count_flops(lambda: (model(x, t) - x).pow(2).mean())
    model.zero_grad(set_to_none=True)
    got = unet_step_cost(model, 4, 8, batch=3, repeats=1, num_timesteps=10, seed=5)
    assert got["flops"] == expected


def test_the_model_is_left_as_it_was():
    model = PointwiseDenoiser(2)
    before = model.conv.weight.detach().clone()
    unet_step_cost(model, 2, 4, repeats=2)
    assert torch.equal(model.conv.weight, before) and model.conv.weight.grad is None
    model.conv.weight.grad = torch.ones_like(before)
    unet_step_cost(model, 2, 4, repeats=1)
    assert torch.equal(model.conv.weight.grad, torch.ones_like(before))


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"channels": 0}, "channels"),
        ({"side": 1.5}, "side"),
        ({"batch": 0}, "batch"),
        ({"repeats": 101}, "repeats"),
        ({"num_timesteps": 0}, "num_timesteps"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_are_named(kwargs, name):
    args = {"channels": 2, "side": 4, **kwargs}
    with pytest.raises(ValueError, match=name):
        unet_step_cost(PointwiseDenoiser(2), **args)
