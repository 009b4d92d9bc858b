"""KL autoencoder and its loss (ldm_teach.autoencoders.kl_vae)."""

import json

import pytest
import torch

from ldm_teach.autoencoders.distributions import DiagonalGaussian
from ldm_teach.autoencoders.kl_vae import (
    AutoencoderKL,
    AutoencoderKLConfig,
    autoencoder_kl_loss,
)


def _cfg(**kw) -> AutoencoderKLConfig:
    base = dict(
        in_channels=1,
        base_channels=16,
        channel_mult=(1, 2),
        num_res_blocks=1,
        latent_channels=2,
        norm_groups=8,
    )
    base.update(kw)
    return AutoencoderKLConfig(**base)


def _model(seed=0, **kw) -> AutoencoderKL:
    torch.manual_seed(seed)
    return AutoencoderKL(_cfg(**kw)).eval()


# ---- config -----------------------------------------------------------------------------


@pytest.mark.parametrize("mult,f", [((1,), 1), ((1, 2), 2), ((1, 2, 2), 4), ((1, 1, 2, 2), 8)])
@pytest.mark.parametrize("latent_channels", [1, 4])
def test_shapes_for_each_downsample_factor(mult, f, latent_channels):
    model = _model(channel_mult=mult, latent_channels=latent_channels, in_channels=3)
    assert model.downsample_factor == model.config.downsample_factor == f
    x = torch.rand(2, 3, 16, 8) * 2 - 1
    posterior = model.encode(x)
    assert isinstance(posterior, DiagonalGaussian)
    assert posterior.mean.shape == (2, latent_channels, 16 // f, 8 // f)
    assert posterior.logvar.shape == posterior.mean.shape
    assert model.decode(posterior.mode()).shape == x.shape
    x_hat, _ = model(x)
    assert x_hat.shape == x.shape


def test_config_round_trips_through_json():
    cfg = _cfg(channel_mult=(1, 2, 2), mid_attention=False, dropout=0.1)
    assert AutoencoderKLConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        _cfg().latent_channels = 8  # type: ignore[misc]


def test_width_not_divisible_by_norm_groups_raises_at_construction():
    with pytest.raises(ValueError, match="norm_groups"):
        AutoencoderKLConfig(base_channels=24, norm_groups=32)
    with pytest.raises(ValueError, match="norm_groups"):
        _cfg(channel_mult=(1, 3), base_channels=16, norm_groups=32)


@pytest.mark.parametrize(
    "field,value",
    [
        ("in_channels", 0),
        ("latent_channels", 0),
        ("channel_mult", ()),
        ("channel_mult", (1, 0)),
        ("num_res_blocks", 0),
        ("dropout", 1.0),
        ("dropout", -0.1),
        ("norm_groups", 0),
    ],
)
def test_bad_config_fields_raise(field, value):
    with pytest.raises(ValueError, match=field):
        _cfg(**{field: value})


def test_mid_attention_flag_controls_attention_layers():
    from ldm_teach.nn import SelfAttention2d

    def count(m):
        return sum(isinstance(x, SelfAttention2d) for x in m.modules())

    assert count(_model(mid_attention=True)) == 2  # encoder and decoder middle
    assert count(_model(mid_attention=False)) == 0


# ---- errors -----------------------------------------------------------------------------


def test_wrong_input_channels_raise():
    model = _model()
    with pytest.raises(ValueError, match="x must have shape"):
        model.encode(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="x must have shape"):
        model.encode(torch.zeros(1, 8, 8))


def test_sizes_not_divisible_by_f_raise():
    model = _model(channel_mult=(1, 2, 2))  # f = 4
    with pytest.raises(ValueError, match="f=4"):
        model.encode(torch.zeros(1, 1, 8, 6))
    with pytest.raises(ValueError, match="f=4"):
        model(torch.zeros(1, 1, 10, 8))


def test_decode_rejects_wrong_latent_channels():
    model = _model()
    with pytest.raises(ValueError, match="z must have shape"):
        model.decode(torch.zeros(1, 3, 4, 4))


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.full((1, 1, 8, 8), float("nan")), "x must be finite"),
        (torch.full((1, 1, 8, 8), float("inf")), "x must be finite"),
        (torch.zeros(0, 1, 8, 8), "x must be non-empty"),
        (
            torch.zeros(1, 1, 8, 8, dtype=torch.float64),
            r"x is torch.float64 but the model's "
            r"parameters are torch.float32",
        ),
        (torch.zeros(1, 1, 8, 8, dtype=torch.uint8), "x must be a floating-point tensor"),
    ],
)
def test_encode_refuses_non_finite_empty_and_mistyped_images(x, match):
    model = _model()
    with pytest.raises(ValueError, match=match):
        model.encode(x)
    with pytest.raises(ValueError, match=match):
        model(x)


@pytest.mark.parametrize(
    "z, match",
    [
        (torch.zeros(0, 2, 4, 4), "z must be non-empty"),
        (torch.zeros(1, 2, 4, 4, dtype=torch.float64), "z is torch.float64"),
        (torch.zeros(1, 2, 4, 4, dtype=torch.int64), "z must be a floating-point tensor"),
        (torch.full((1, 2, 4, 4), float("nan")), "z must be finite"),  # float32: NaN images
        (torch.full((1, 2, 4, 4), float("inf")), "z must be finite"),
    ],
)
def test_decode_refuses_empty_and_mistyped_latents(z, match):
    with pytest.raises(ValueError, match=match):
        _model().decode(z)


def test_autocast_may_cast_inputs_itself():
    model = _model()
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = model.encode(x.bfloat16()).mode()
        assert model.decode(z).shape == x.shape


def test_float16_decode_overflow_raises_unless_upcast():
    model = _model()
    with torch.no_grad():  # a latent projection whose float16 output overflows (> 65504)
        model.post_quant_conv.weight.fill_(3e4)
    z = torch.ones(1, 2, 4, 4)
    ref = model.decode(z)  # float32: finite
    assert torch.isfinite(ref).all()
    half = model.half()
    with pytest.raises(FloatingPointError, match="force_upcast"):
        half.decode(z.half())
    half.force_upcast = True
    out = half.decode(z.half())
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert half.decoder.conv_in.weight.dtype == torch.float16  # the module is not converted
    assert torch.allclose(out, ref, rtol=1e-2, atol=1e-2)  # weights rounded to float16
    posterior = half.encode(torch.rand(1, 1, 8, 8).half() * 2 - 1)
    assert posterior.mean.dtype == torch.float32


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(force_upcast=1), "force_upcast"),
        (dict(scaling_factor=0.0), "scaling_factor"),
        (dict(scaling_factor=float("nan")), "scaling_factor"),
        (dict(scaling_factor="1"), "scaling"),
    ],
)
def test_bad_upcast_and_scaling_factor_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        AutoencoderKL(_cfg(), **kw)
    assert AutoencoderKL(_cfg(), scaling_factor=0.5).scaling_factor == 0.5


# ---- forward / reconstruct --------------------------------------------------------------


def test_forward_without_sampling_decodes_the_mode():
    model = _model()
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    x_hat, posterior = model(x, sample_posterior=False)
    assert torch.allclose(x_hat, model.decode(posterior.mean), atol=1e-6)


def test_forward_sample_uses_the_generator():
    model = _model()
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    a, _ = model(x, generator=torch.Generator().manual_seed(1))
    b, _ = model(x, generator=torch.Generator().manual_seed(1))
    c, _ = model(x, sample_posterior=False)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_reconstruct_is_clamped_mode_without_grad():
    model = _model()
    with torch.no_grad():  # push outputs beyond [-1, 1]
        model.decoder.conv_out.bias.fill_(3.0)
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    out = model.reconstruct(x)
    assert not out.requires_grad
    assert out.min() >= -1.0 and out.max() <= 1.0
    assert torch.allclose(out, model.decode(model.encode(x).mode()).clamp(-1, 1), atol=1e-6)


# ---- loss -------------------------------------------------------------------------------


@pytest.mark.parametrize("kl_weight", [0.0, 1e-6, 0.5])
def test_loss_is_l1_plus_weighted_mean_kl(kl_weight):
    model = _model()
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    loss, parts = autoencoder_kl_loss(model, x, kl_weight, torch.Generator().manual_seed(4))
    posterior = model.encode(x)
    z = posterior.sample(torch.Generator().manual_seed(4))
    rec = (x - model.decode(z)).abs().mean()
    kl = posterior.kl().mean()
    assert loss.ndim == 0
    assert loss.item() == pytest.approx((rec + kl_weight * kl).item(), rel=1e-6, abs=1e-7)
    assert parts["rec"] == pytest.approx(rec.item(), rel=1e-6)
    assert parts["kl"] == pytest.approx(kl.item(), rel=1e-6)


def test_negative_kl_weight_raises():
    with pytest.raises(ValueError, match="kl_weight"):
        autoencoder_kl_loss(_model(), torch.zeros(1, 1, 8, 8), kl_weight=-1e-6)


def test_loss_backpropagates_to_encoder_and_decoder():
    model = _model().train()
    loss, _ = autoencoder_kl_loss(model, torch.rand(2, 1, 8, 8) * 2 - 1, 1e-3)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == []


def test_tiny_autoencoder_learns_a_few_digits():
    from ldm_teach.data import DigitsDataset

    x = DigitsDataset("train", size=16).images[:8]  # (8, 1, 16, 16) in [-1, 1]
    model = _model(seed=0, channel_mult=(1, 2)).train()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)

    def eval_loss():
        with torch.no_grad():
            return autoencoder_kl_loss(model, x, 1e-4, torch.Generator().manual_seed(0))[0].item()

    before = eval_loss()
    for step in range(60):
        loss, _ = autoencoder_kl_loss(model, x, 1e-4, torch.Generator().manual_seed(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = eval_loss()
    assert after < 0.5 * before, (before, after)


@pytest.mark.parametrize("value", ["no", 0, None])
def test_mid_attention_must_be_a_bool(value):
    with pytest.raises(ValueError, match="mid_attention"):
        AutoencoderKLConfig(mid_attention=value)


def test_images_in_0_255_are_refused_not_encoded():
    # found by the third bad-input pass: encode(x * 127.5 + 127.5) gave plausible latents
    from ldm_teach.autoencoders import AutoencoderKL, AutoencoderKLConfig

    ae = AutoencoderKL(
        AutoencoderKLConfig(
            in_channels=1, base_channels=8, channel_mult=(1, 2), latent_channels=2, norm_groups=4
        )
    ).eval()
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    ae.encode(x)
    with pytest.raises(
        ValueError,
        match=r"images in \[-1, 1\], got values up to 255.*"
        r"x / 127.5 - 1",
    ):
        ae.encode(torch.full((2, 1, 8, 8), 255.0))
    with pytest.raises(ValueError, match="images in"):
        ae(x * 127.5 + 127.5)


def test_latents_of_absurd_magnitude_are_an_error_not_nan_images():
    # found by the third bad-input pass: decode(full(1e20)) returned all-NaN images
    from ldm_teach.pretrained import load_autoencoder

    ae = load_autoencoder("digits-kl-f4")
    assert torch.isfinite(ae.decode(torch.randn(1, 4, 8, 8))).all()
    with pytest.raises(FloatingPointError, match="z has values up to 1e\\+20"):
        ae.decode(torch.full((1, 4, 8, 8), 1e20))
