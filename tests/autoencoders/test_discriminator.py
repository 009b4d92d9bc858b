"""PatchGAN discriminator (ldm_teach.autoencoders.discriminator)."""

import pytest
import torch
from torch import nn

from ldm_teach.autoencoders.discriminator import PatchDiscriminator


def _disc(**kw) -> PatchDiscriminator:
    torch.manual_seed(0)
    base = dict(in_channels=3, base_channels=8)
    base.update(kw)
    return PatchDiscriminator(**base)


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("size", [32, 64])
def test_output_shape_follows_formula(num_layers, size):
    disc = _disc(num_layers=num_layers).eval()
    x = torch.rand(2, 3, size, size) * 2 - 1
    out = disc(x)
    side = size // 2**num_layers - 2  # floor(H / 2^n) - 2
    assert out.shape == (2, 1, side, side)
    assert disc.output_size(size, size) == (side, side)


def test_pinned_shapes_for_default_depth():
    disc = _disc().eval()
    assert disc(torch.zeros(1, 3, 32, 32)).shape == (1, 1, 2, 2)
    assert disc(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 6, 6)
    assert disc(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)  # pix2pix's 30x30 map
    assert disc.output_size(40, 64) == (3, 6)  # floor applies per side


@pytest.mark.parametrize("num_layers,rf", [(1, 16), (2, 34), (3, 70)])
def test_receptive_field_matches_pix2pix(num_layers, rf):
    disc = _disc(num_layers=num_layers, norm="none").eval()
    assert disc.receptive_field == rf == 9 * 2**num_layers - 2
    # empirical: the pixels that reach one interior logit form an rf x rf square
    x = torch.rand(1, 3, 160, 160, requires_grad=True)
    logits = disc(x)  # (1, 1, h', w')
    i = logits.shape[-1] // 2
    logits[0, 0, i, i].backward()
    reached = x.grad[0].abs().sum(0) > 0  # (H, W)
    rows = reached.any(dim=1).nonzero().flatten()
    cols = reached.any(dim=0).nonzero().flatten()
    assert int(rows.max() - rows.min()) + 1 == rf
    assert int(cols.max() - cols.min()) + 1 == rf


def test_channel_widths_and_bias_match_pix2pix():
    disc = _disc(base_channels=64, num_layers=3)
    convs = [m for m in disc.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert [c.stride for c in convs] == [(2, 2), (2, 2), (2, 2), (1, 1), (1, 1)]
    assert all(c.kernel_size == (4, 4) for c in convs)
    # convs followed by batch norm carry no bias; first and last do
    assert [c.bias is not None for c in convs] == [True, False, False, False, True]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in disc.modules()) == 3
    leaky = [m for m in disc.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(leaky) == 4 and all(m.negative_slope == 0.2 for m in leaky)


def test_width_capped_at_eight_times_base():
    disc = _disc(base_channels=4, num_layers=5)
    convs = [m for m in disc.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8, 16, 32, 32, 32, 1]


def test_weight_init_is_normal_0_002():
    disc = _disc(base_channels=64)
    w = torch.cat([m.weight.flatten() for m in disc.modules() if isinstance(m, nn.Conv2d)])
    assert abs(w.mean().item()) < 1e-3
    assert w.std().item() == pytest.approx(0.02, rel=0.02)
    bn = torch.cat([m.weight for m in disc.modules() if isinstance(m, nn.BatchNorm2d)])
    assert bn.mean().item() == pytest.approx(1.0, abs=0.01)


def test_spectral_norm_registers_parametrization_and_bounds_sigma():
    disc = _disc(spectral_norm=True, norm="none")
    convs = [m for m in disc.modules() if isinstance(m, nn.Conv2d)]
    assert all(torch.nn.utils.parametrize.is_parametrized(c, "weight") for c in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in disc.modules())
    disc.train()
    x = torch.rand(2, 3, 32, 32)
    for _ in range(20):  # power iterations converge in training mode
        disc(x)
    disc.eval()
    w = convs[1].weight.flatten(1)  # (out, in*k*k), the normalised weight
    assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, rel=1e-2)


def test_group_norm_option():
    disc = _disc(norm="group", base_channels=8)
    gns = [m for m in disc.modules() if isinstance(m, nn.GroupNorm)]
    assert len(gns) == 3
    assert disc.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 1, 2, 2)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="norm='none'"):
        PatchDiscriminator(3, spectral_norm=True)  # batch norm is the default
    with pytest.raises(ValueError, match="norm must be one of"):
        PatchDiscriminator(3, norm="layer")
    with pytest.raises(ValueError, match="num_layers"):
        PatchDiscriminator(3, num_layers=0)
    disc = _disc()
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        disc(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match=">= 3 \\* 2\\^num_layers = 24"):
        disc(torch.zeros(1, 3, 16, 16))
