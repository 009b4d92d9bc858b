"""VQ autoencoder and its loss (ldm_teach.autoencoders.vq_vae)."""

import json

import pytest
import torch

from ldm_teach.autoencoders.kl_vae import AutoencoderKLConfig, Decoder, Encoder
from ldm_teach.autoencoders.quantizer import VectorQuantizer
from ldm_teach.autoencoders.vq_vae import VQVAE, VQVAEConfig, vq_vae_loss


def _cfg(**kw) -> VQVAEConfig:
    base = dict(
        in_channels=1,
        base_channels=8,
        channel_mult=(1, 2),
        num_res_blocks=1,
        norm_groups=4,
        num_codes=16,
        code_dim=3,
    )
    base.update(kw)
    return VQVAEConfig(**base)


def _model(seed=0, **kw) -> VQVAE:
    torch.manual_seed(seed)
    return VQVAE(_cfg(**kw)).eval()


# ---- config -----------------------------------------------------------------------------


@pytest.mark.parametrize("mult,f", [((1, 2), 2), ((1, 2, 2), 4)])
def test_shapes_for_each_downsample_factor(mult, f):
    model = _model(channel_mult=mult, in_channels=3)
    assert model.downsample_factor == model.config.downsample_factor == f
    x = torch.rand(2, 3, 16, 8) * 2 - 1
    z_e = model.encode(x)
    assert z_e.shape == (2, 3, 16 // f, 8 // f)
    x_hat, quant = model(x)
    assert x_hat.shape == x.shape
    assert quant.z_q.shape == z_e.shape
    indices = model.encode_to_indices(x)
    assert indices.shape == (2, 16 // f, 8 // f) and indices.dtype == torch.int64
    assert 0 <= int(indices.min()) and int(indices.max()) < 16
    assert model.decode_indices(indices).shape == x.shape


def test_config_round_trips_through_json():
    cfg = _cfg(
        channel_mult=(1, 2, 2),
        mid_attention=False,
        dropout=0.1,
        use_ema=True,
        ema_decay=0.9,
        commitment_cost=0.5,
        dead_code_threshold=2.0,
    )
    assert VQVAEConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        _cfg().num_codes = 8  # type: ignore[misc]


def test_backbone_config_shares_the_kl_fields():
    cfg = _cfg(channel_mult=(1, 2, 2), code_dim=5, dropout=0.1)
    kl = cfg.backbone_config()
    assert isinstance(kl, AutoencoderKLConfig)
    assert kl.latent_channels == 5 and kl.channel_mult == (1, 2, 2) and kl.dropout == 0.1
    assert kl.downsample_factor == cfg.downsample_factor == 4


@pytest.mark.parametrize(
    "field,value",
    [
        ("code_dim", 0),
        ("num_codes", 1),
        ("commitment_cost", -0.1),
        ("ema_decay", 1.0),
        ("dead_code_threshold", -1.0),
        ("in_channels", 0),
        ("channel_mult", ()),
        ("num_res_blocks", 0),
        ("dropout", 1.0),
        ("norm_groups", 0),
    ],
)
def test_bad_config_fields_raise(field, value):
    with pytest.raises(ValueError, match=field):
        _cfg(**{field: value})


def test_width_not_divisible_by_norm_groups_raises_at_construction():
    with pytest.raises(ValueError, match="norm_groups"):
        _cfg(base_channels=12, norm_groups=8)


# ---- shared code with the KL autoencoder ------------------------------------------------


def test_encoder_and_decoder_are_the_kl_ones_with_a_d_channel_bottleneck():
    model = _model(code_dim=5)
    assert type(model.encoder) is Encoder and type(model.decoder) is Decoder
    assert isinstance(model.quantizer, VectorQuantizer)
    assert model.encoder.conv_out.out_channels == 5
    assert model.decoder.conv_in.in_channels == 5
    assert model.quantizer.codebook.shape == (16, 5)


def test_kl_encoder_default_output_is_unchanged():
    kl_cfg = AutoencoderKLConfig(
        in_channels=1, base_channels=8, channel_mult=(1, 2), latent_channels=3, norm_groups=4
    )
    torch.manual_seed(0)
    default = Encoder(kl_cfg)
    torch.manual_seed(0)
    explicit = Encoder(kl_cfg, out_channels=6)
    assert default.conv_out.out_channels == 6  # 2c: mean and logvar
    assert list(default.state_dict()) == list(explicit.state_dict())


# ---- codes in and out -------------------------------------------------------------------


def test_indices_round_trip_equals_forward_reconstruction():
    model = _model(channel_mult=(1, 2, 2))
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        x_hat, quant = model(x)
    indices = model.encode_to_indices(x)
    assert torch.equal(indices, quant.indices)
    assert torch.allclose(model.decode_indices(indices), x_hat, atol=1e-6)
    assert torch.equal(model.quantize(model.encode(x)).indices, indices)


def test_encode_to_indices_and_reconstruct_change_no_state():
    model = _model(use_ema=True).train()
    before = model.quantizer.codebook.detach().clone()
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    model.encode_to_indices(x)
    out = model.reconstruct(x)
    assert int(model.quantizer.usage_counts.sum()) == 0
    assert torch.equal(model.quantizer.codebook.detach(), before)
    assert not out.requires_grad and out.min() >= -1.0 and out.max() <= 1.0


def test_forward_counts_usage_over_batches():
    model = _model()
    x = torch.rand(2, 1, 8, 8) * 2 - 1  # f = 2: 2 * 4 * 4 = 32 positions per batch
    model(x)
    model(x)
    assert int(model.quantizer.usage_counts.sum()) == 64
    assert 1.0 <= model.quantizer.perplexity() <= 16.0


# ---- errors -----------------------------------------------------------------------------


def test_bad_inputs_raise():
    model = _model(channel_mult=(1, 2, 2))  # f = 4
    with pytest.raises(ValueError, match="x must have shape"):
        model.encode(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="f=4"):
        model(torch.zeros(1, 1, 8, 6))
    with pytest.raises(ValueError, match="z_q must have shape"):
        model.decode(torch.zeros(1, 2, 2, 2))
    with pytest.raises(ValueError, match="indices must be in"):
        model.decode_indices(torch.full((1, 2, 2), 16))


def test_non_finite_empty_and_mistyped_images_are_refused():
    model = _model()
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    x[1, 0, 3, 3] = float("nan")  # a NaN image used to map to code 0
    for fn in (model.encode_to_indices, model.encode, model, model.reconstruct):
        with pytest.raises(ValueError, match="x must be finite"):
            fn(x)
    with pytest.raises(ValueError, match="x must be non-empty"):
        model(torch.zeros(0, 1, 8, 8))
    with pytest.raises(ValueError, match="torch.float64"):
        model.encode(torch.zeros(1, 1, 8, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="z_q is torch.float64"):
        model.decode(torch.zeros(1, 3, 4, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="z_q must be non-empty"):
        model.decode(torch.zeros(0, 3, 4, 4))


# ---- loss -------------------------------------------------------------------------------


@pytest.mark.parametrize("use_ema", [False, True])
def test_loss_is_l1_plus_quantizer_loss(use_ema):
    model = _model(use_ema=use_ema)  # eval: no EMA step, so the recomputation matches
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    loss, logs = vq_vae_loss(model, x)
    z_e = model.encode(x)
    quant = model.quantizer(z_e)
    rec = (x - model.decode(quant.z_q)).abs().mean()
    assert loss.ndim == 0
    assert loss.item() == pytest.approx((rec + quant.loss).item(), rel=1e-6)
    assert logs["rec"] == pytest.approx(rec.item(), rel=1e-6)
    assert logs["vq"] == pytest.approx(quant.loss.item(), rel=1e-6)
    assert logs["perplexity"] == pytest.approx(quant.stats["perplexity"])
    assert 0.0 < logs["usage"] <= 1.0


@pytest.mark.parametrize("use_ema", [False, True])
def test_loss_backpropagates_to_every_parameter_but_an_ema_codebook(use_ema):
    model = _model(use_ema=use_ema).train()
    loss, _ = vq_vae_loss(model, torch.rand(2, 1, 8, 8) * 2 - 1)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == (["quantizer.codebook"] if use_ema else [])


@pytest.mark.parametrize("use_ema", [False, True])
def test_tiny_vq_vae_learns_a_few_digits(use_ema):
    from ldm_teach.data import DigitsDataset

    x = DigitsDataset("train", size=16).images[:8]  # (8, 1, 16, 16) in [-1, 1]
    model = _model(seed=0, num_codes=32, code_dim=4, mid_attention=False, use_ema=use_ema)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)

    def eval_loss():
        model.eval()
        with torch.no_grad():
            value = vq_vae_loss(model, x)[0].item()
        model.train()
        return value

    before = eval_loss()
    for _ in range(50):
        loss, _ = vq_vae_loss(model, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = eval_loss()
    assert after < 0.5 * before, (before, after)
