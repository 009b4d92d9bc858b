"""Denoising UNet (ldm_teach.models.unet)."""

import json

import pytest
import torch
from torch import nn

from ldm_teach.models.unet import UNet, UNetConfig
from ldm_teach.nn import SelfAttention2d


def _cfg(**kw) -> UNetConfig:
    base = dict(
        in_channels=2,
        out_channels=2,
        base_channels=16,
        channel_mult=(1, 2),
        num_res_blocks=1,
        attention_levels=(1,),
        num_heads=2,
        norm_groups=8,
    )
    base.update(kw)
    return UNetConfig(**base)


def _perturb(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter (incl. the zero-initialised output conv) random values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model


def _unet(seed=0, perturb=False, **kw) -> UNet:
    torch.manual_seed(seed)
    model = UNet(_cfg(**kw)).eval()
    return _perturb(model, seed) if perturb else model


def _x(B=2, C=2, H=8, W=8, seed=1):
    return torch.randn(B, C, H, W, generator=torch.Generator().manual_seed(seed))


# ---- shapes and initialisation -----------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(channel_mult=(1,), attention_levels=()),
        dict(channel_mult=(1, 2, 2), num_res_blocks=2, attention_levels=(0, 2)),
        dict(num_classes=3),
    ],
)
def test_output_shape_equals_input_shape(kw):
    model = _unet(perturb=True, **kw)
    x = _x(H=8, W=16)
    out = model(x, torch.tensor([0, 999]))
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


def test_out_channels_may_differ_from_in_channels():
    model = _unet(in_channels=3, out_channels=6)
    assert model(_x(C=3), torch.tensor([1, 2])).shape == (2, 6, 8, 8)


def test_zero_initialised_output_gives_exact_zeros():
    model = _unet(num_classes=4)
    assert torch.equal(model.conv_out.weight, torch.zeros_like(model.conv_out.weight))
    out = model(_x(), torch.tensor([3, 500]), torch.tensor([0, 4]))
    assert torch.equal(out, torch.zeros_like(out))


def test_attention_placed_on_requested_levels():
    def n_attn(model):
        return sum(isinstance(m, SelfAttention2d) for m in model.modules())

    # the mid block always has one; each attention level adds num_res_blocks (down)
    # and num_res_blocks + 1 (up)
    assert n_attn(_unet(attention_levels=())) == 1
    assert n_attn(_unet(attention_levels=(1,))) == 1 + 1 + 2
    assert n_attn(_unet(attention_levels=(0, 1), num_res_blocks=2)) == 1 + 2 * (2 + 3)


def test_every_parameter_receives_a_gradient():
    model = _unet(perturb=True, num_classes=3).train()
    out = model(_x(), torch.tensor([4, 9]), torch.tensor([0, 3]))
    out.pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == []


def test_batch_items_are_independent():
    model = _unet(perturb=True, num_classes=3)
    x, t, y = _x(B=3), torch.tensor([5, 50, 500]), torch.tensor([0, 1, 3])
    full = model(x, t, y)
    assert torch.allclose(full[1:2], model(x[1:2], t[1:2], y[1:2]), atol=1e-5)


# ---- conditioning -----------------------------------------------------------------------


def test_timestep_changes_the_output():
    model = _unet(perturb=True)
    x = _x()
    assert not torch.allclose(model(x, torch.tensor([10, 10])), model(x, torch.tensor([900, 900])))


def test_scalar_t_is_broadcast_over_the_batch():
    model = _unet(perturb=True)
    x = _x()
    assert torch.equal(model(x, torch.tensor(7)), model(x, torch.tensor([7, 7])))


def test_class_label_changes_the_output():
    model = _unet(perturb=True, num_classes=3)
    x, t = _x(), torch.tensor([100, 100])
    out0 = model(x, t, torch.tensor([0, 0]))
    out1 = model(x, t, torch.tensor([1, 1]))
    assert not torch.allclose(out0, out1)


def test_y_none_is_the_null_label():
    model = _unet(perturb=True, num_classes=3)
    x, t = _x(), torch.tensor([100, 200])
    assert torch.equal(model(x, t), model(x, t, torch.tensor([3, 3])))
    assert model.class_embed.num_embeddings == 4  # 3 classes + the null label


@pytest.mark.parametrize("y", [[-1, 0], [0, 4]])
def test_labels_out_of_range_raise(y):
    model = _unet(num_classes=3)
    with pytest.raises(ValueError, match=r"labels y must be in \[0, 3\]"):
        model(_x(), torch.tensor([1, 1]), torch.tensor(y))


def test_labels_with_wrong_shape_raise():
    model = _unet(num_classes=3)
    with pytest.raises(ValueError, match="y must be an integer tensor of shape"):
        model(_x(), torch.tensor([1, 1]), torch.tensor([0, 1, 2]))


def test_labels_given_to_unconditional_model_raise():
    with pytest.raises(ValueError, match="num_classes=None"):
        _unet()(_x(), torch.tensor([1, 1]), torch.tensor([0, 1]))


# ---- input checks -----------------------------------------------------------------------


@pytest.mark.parametrize("t", [[1, 2, 3], [[1], [2]], [1]])
def test_t_with_wrong_shape_raises(t):
    with pytest.raises(ValueError, match=r"t must have shape \(2,\)"):
        _unet()(_x(), torch.tensor(t))


@pytest.mark.parametrize(
    "t, shown",
    [
        (torch.tensor([1, -5]), "-5"),
        (torch.tensor([1e6, 3.0]), "1000000"),
        (torch.tensor([float("nan"), 3.0]), "nan"),
        (torch.tensor([float("inf"), 3.0]), "inf"),
        (torch.tensor(-1), "-1"),  # a scalar, broadcast over the batch
    ],
)
def test_t_negative_not_finite_or_too_large_raises(t, shown):
    # these used to give an output (NaN for t = NaN), silently
    with pytest.raises(ValueError, match=rf"t must be finite timesteps in \[0, 100000\].*{shown}"):
        _unet()(_x(), t)


def test_t_in_range_is_accepted_as_int_or_float():
    model = _unet(perturb=True)
    assert torch.equal(model(_x(), torch.tensor([0, 999])), model(_x(), torch.tensor([0.0, 999.0])))
    assert model(_x(), torch.tensor([100000, 0])).shape == (2, 2, 8, 8)  # the bound itself
    with pytest.raises(ValueError, match="real"):
        model(_x(), torch.tensor([True, False]))


@pytest.mark.parametrize("num_classes", [None, 3])
def test_empty_batch_raises(num_classes):
    with pytest.raises(ValueError, match=r"at least one sample \(B >= 1\).*\(0, 2, 8, 8\)"):
        _unet(num_classes=num_classes)(_x(B=0), torch.zeros(0, dtype=torch.long))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.int64])
def test_x_of_another_dtype_than_the_weights_names_both(dtype):
    # a float64 x used to fail deep inside conv2d ("Input type (double) and bias type ...")
    with pytest.raises(
        TypeError,
        match=rf"x must have the UNet's dtype torch.float32, got "
        rf"{dtype}; convert \(x.to\(torch.float32\)",
    ):
        _unet()(_x().to(dtype), torch.tensor([1, 1]))
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got ndarray"):
        _unet()(_x().numpy(), torch.tensor([1, 1]))
    model = _unet().double()
    assert model(_x().double(), torch.tensor([1, 1])).dtype == torch.float64


def test_x_with_wrong_channels_or_size_raises():
    model = _unet(channel_mult=(1, 2, 2))  # divisor 4
    with pytest.raises(ValueError, match="x must have shape"):
        model(_x(C=3), torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="divisible by 4"):
        model(_x(H=6), torch.tensor([1, 1]))


# ---- config -----------------------------------------------------------------------------


def test_config_round_trips_through_json():
    cfg = _cfg(num_classes=10, channel_mult=(1, 2, 2), attention_levels=(1, 2), dropout=0.1)
    assert UNetConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_width_not_divisible_by_norm_groups_raises_at_construction():
    with pytest.raises(ValueError, match="norm_groups"):
        UNetConfig(base_channels=24, norm_groups=32)


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(in_channels=0), "in_channels"),
        (dict(out_channels=0), "out_channels"),
        (dict(channel_mult=()), "channel_mult"),
        (dict(channel_mult=(1, -2)), "channel_mult"),
        (dict(num_res_blocks=0), "num_res_blocks"),
        (dict(attention_levels=(2,)), "attention_levels"),
        (dict(attention_levels=(-1,)), "attention_levels"),
        (dict(num_classes=0), "num_classes"),
        (dict(base_channels=15, norm_groups=5, num_heads=1), "even"),
        (dict(num_heads=3, norm_groups=8), "num_heads"),
        (dict(num_heads=0), "num_heads must be an int >= 1"),  # was ZeroDivisionError
        (dict(num_heads=-2), "num_heads must be an int >= 1"),
        (dict(num_heads=2.0), "num_heads must be an int"),
        (dict(dropout=float("nan")), r"dropout must be a finite number in \[0, 1\)"),
        (dict(dropout=1.0), "dropout"),
        (dict(dropout=-0.1), "dropout"),
        (dict(dropout="0.1"), "dropout"),
        (dict(norm_groups=0), "norm_groups must be an int >= 1"),
        (dict(base_channels=0), "base_channels"),
        (dict(num_res_blocks=1.5), "num_res_blocks must be an int"),
    ],
)
def test_bad_config_fields_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        _cfg(**kw)


@pytest.mark.parametrize("num_classes", [True, 2.0, "10"])
def test_num_classes_must_be_an_int(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        UNetConfig(num_classes=num_classes)


@pytest.mark.parametrize(
    "y", [[1, 2], 3, torch.tensor([True, False]), torch.tensor([1, 2], dtype=torch.uint8)]
)
def test_labels_that_are_not_an_integer_tensor_are_refused(y):
    net = UNet(_cfg(num_classes=4)).eval()
    with pytest.raises(ValueError, match="y must be an integer tensor"):
        net(torch.zeros(2, net.config.in_channels, 8, 8), torch.tensor([1, 2]), y)


def test_int8_and_int32_labels_work_like_int64():
    net = UNet(_cfg(num_classes=4)).eval()
    x, t = torch.randn(2, net.config.in_channels, 8, 8), torch.tensor([1, 2])
    ref = net(x, t, torch.tensor([1, 3]))
    for dtype in (torch.int8, torch.int32):
        assert torch.equal(net(x, t, torch.tensor([1, 3], dtype=dtype)), ref)
