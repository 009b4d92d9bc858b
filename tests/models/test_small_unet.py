"""The UNet of the 10.1.1 cost comparison (ldm_teach.models.small_unet)."""

import pytest
import torch

from ldm_teach.models import UNet, small_unet


@pytest.mark.parametrize("channels", [3, 4])
def test_prediction_has_the_input_shape(channels):
    model = small_unet(channels)
    x = torch.randn(2, channels, 8, 8)
    out = model(x, torch.tensor([0, 999]))
    assert isinstance(model, UNet) and out.shape == x.shape


def test_only_the_first_and_last_convolutions_depend_on_the_channels():
    a, b = small_unet(3).state_dict(), small_unet(4).state_dict()
    differ = {k for k in a if a[k].shape != b[k].shape}
    assert differ and all(k.startswith(("conv_in", "conv_out")) for k in differ)


def test_seeded_weights_and_the_global_rng_is_left_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = small_unet(4, seed=0)
    assert torch.equal(torch.rand(3), expected)  # the caller's RNG did not move
    b, c = small_unet(4, seed=0), small_unet(4, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(), strict=True))


@pytest.mark.parametrize(
    "kwargs,name", [({"channels": 0}, "channels"), ({"channels": 4, "seed": -1}, "seed")]
)
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        small_unet(**kwargs)
    with pytest.raises(ValueError, match="channels"):
        small_unet(True)
