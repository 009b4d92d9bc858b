"""LatentDiffusion: scale factor, loss, guidance and sampling on tiny models."""

from __future__ import annotations

import pytest
import torch

from ldm_teach.autoencoders import AutoencoderKL, AutoencoderKLConfig
from ldm_teach.diffusion import ScheduleConfig, get_v, q_sample
from ldm_teach.models import (
    LatentDiffusion,
    PredictionConverter,
    UNet,
    UNetConfig,
    compute_scale_factor,
)


def tiny_ae(latent_channels: int = 4) -> AutoencoderKL:
    torch.manual_seed(0)
    cfg = AutoencoderKLConfig(
        in_channels=1,
        base_channels=16,
        channel_mult=(1, 2),
        latent_channels=latent_channels,
        norm_groups=8,
    )
    return AutoencoderKL(cfg)


def tiny_unet(num_classes: int | None = 3, in_channels: int = 4) -> UNet:
    torch.manual_seed(1)
    unet = UNet(
        UNetConfig(
            in_channels=in_channels,
            out_channels=in_channels,
            base_channels=16,
            channel_mult=(1, 2),
            num_res_blocks=1,
            attention_levels=(1,),
            num_heads=2,
            num_classes=num_classes,
            norm_groups=8,
        )
    )
    # the output layer starts at zero; perturb it so predictions depend on the inputs
    with torch.no_grad():
        unet.conv_out.weight.normal_(0, 0.1)
    return unet


def tiny_ldm(num_classes: int | None = 3) -> LatentDiffusion:
    return LatentDiffusion(
        tiny_ae(),
        tiny_unet(num_classes),
        ScheduleConfig(num_train_timesteps=50),
        scale_factor=0.5,
        cond_drop_prob=0.2,
    )


def test_compute_scale_factor_is_one_over_latent_std():
    ae = tiny_ae()
    x = torch.rand(6, 1, 8, 8) * 2 - 1
    z = ae.encode(x).mode()
    assert compute_scale_factor(ae, x) == pytest.approx(1.0 / z.std().item(), rel=1e-6)
    # batches in an iterable give the same answer
    assert compute_scale_factor(ae, [x[:3], x[3:]]) == pytest.approx(1.0 / z.std().item(), rel=1e-6)


def test_compute_scale_factor_rejects_empty_input():
    with pytest.raises(ValueError, match="at least one image"):
        compute_scale_factor(tiny_ae(), [])


def test_scale_factor_is_saved_with_the_weights_and_applied_in_encode_decode():
    ldm = tiny_ldm()
    assert "scale_factor" in ldm.state_dict()
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    z = ldm.encode(x)
    assert torch.allclose(z, ldm.autoencoder.encode(x).mode() * 0.5)
    assert torch.allclose(ldm.decode(z), ldm.autoencoder.decode(z / 0.5).clamp(-1, 1))


def test_autoencoder_is_frozen_even_in_train_mode():
    ldm = tiny_ldm().train()
    assert not ldm.autoencoder.training
    assert all(not p.requires_grad for p in ldm.autoencoder.parameters())
    assert all(p.requires_grad for p in ldm.unet.parameters())


def test_loss_is_reproducible_and_trains_only_the_unet():
    ldm = tiny_ldm()
    z0 = torch.randn(4, 4, 4, 4)
    y = torch.tensor([0, 1, 2, 0])
    l1 = ldm.loss(z0, y, torch.Generator().manual_seed(3))
    l2 = ldm.loss(z0, y, torch.Generator().manual_seed(3))
    assert l1.ndim == 0 and torch.isfinite(l1)
    assert l1.item() == l2.item()
    l1.backward()
    assert ldm.unet.conv_in.weight.grad is not None


def test_guidance_scale_one_is_the_conditional_prediction_and_formula_holds():
    ldm = tiny_ldm()
    z = torch.randn(3, 4, 4, 4)
    t = torch.tensor([3, 10, 40])
    y = torch.tensor([0, 1, 2])
    eps_c = ldm.unet(z, t, y)
    eps_u = ldm.unet(z, t, torch.full_like(y, 3))
    assert torch.allclose(ldm.eps_fn(y, 1.0)(z, t), eps_c, atol=1e-6)
    w = 3.0
    assert torch.allclose(ldm.eps_fn(y, w)(z, t), eps_u + w * (eps_c - eps_u), atol=1e-5)
    assert torch.allclose(ldm.eps_fn(y, 0.0)(z, t), eps_u, atol=1e-5)


def test_sample_shape_range_and_determinism():
    ldm = tiny_ldm()
    y = torch.tensor([0, 1])
    a = ldm.sample(
        2,
        8,
        y,
        guidance_scale=2.0,
        num_inference_steps=4,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    b = ldm.sample(
        2,
        8,
        y,
        guidance_scale=2.0,
        num_inference_steps=4,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert a.shape == (2, 1, 8, 8)
    assert a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b)
    c = ldm.sample(
        2, 8, y, sampler="ddpm", generator=torch.Generator().manual_seed(0), progress=False
    )
    assert c.shape == (2, 1, 8, 8)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sampler="euler"), "sampler"),
        (dict(guidance_scale=-1.0), "guidance_scale"),
        (dict(y=torch.tensor([0, 1, 2])), "y must have shape"),
        (dict(y=[0, 1]), "integer tensor"),
        (dict(y=torch.tensor([0.0, 1.0])), "integer tensor"),
        (dict(y=torch.tensor([0, 3])), r"labels y must be in \[0, 2\]"),
        (dict(guidance_scale=float("nan")), "finite"),
        (dict(guidance_scale=1e30), r"guidance_scale must be a finite number in \[0, 100\]"),
        (dict(guidance_scale=100.5), r"in \[0, 100\]"),
        (dict(guidance_scale=float("inf")), "finite"),
        (dict(y=None, guidance_scale=3.0), "only applies"),
    ],
)
def test_sample_rejects_bad_arguments(kwargs, match):
    ldm = tiny_ldm()
    args = dict(y=torch.tensor([0, 1]), progress=False, num_inference_steps=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ldm.sample(2, 8, **args)


def test_image_size_must_be_divisible_by_f():
    with pytest.raises(ValueError, match="divisible by f=2"):
        tiny_ldm().sample(1, 7, torch.tensor([0]), progress=False)


def test_construction_errors():
    with pytest.raises(ValueError, match="latent_channels"):
        LatentDiffusion(tiny_ae(latent_channels=3), tiny_unet(), ScheduleConfig(), 1.0)
    with pytest.raises(ValueError, match="scale_factor"):
        LatentDiffusion(tiny_ae(), tiny_unet(), ScheduleConfig(), 0.0)
    with pytest.raises(ValueError, match="cond_drop_prob"):
        LatentDiffusion(tiny_ae(), tiny_unet(), ScheduleConfig(), 1.0, cond_drop_prob=1.0)


def test_construction_refuses_inf_scale_out_channels_and_missing_schedule():
    with pytest.raises(ValueError, match="scale_factor must be a finite positive"):
        LatentDiffusion(tiny_ae(), tiny_unet(), ScheduleConfig(), float("inf"))  # was accepted
    unet = UNet(
        UNetConfig(
            in_channels=4,
            out_channels=3,
            base_channels=16,
            channel_mult=(1,),
            num_res_blocks=1,
            attention_levels=(),
            norm_groups=8,
        )
    )
    with pytest.raises(ValueError, match=r"unet.config.out_channels \(3\)"):
        LatentDiffusion(tiny_ae(), unet, ScheduleConfig(), 1.0)  # was a broadcast error in loss
    with pytest.raises(ValueError, match="schedule_config must be a ScheduleConfig"):
        LatentDiffusion(tiny_ae(), tiny_unet(), None, 1.0)  # was AttributeError


@pytest.mark.parametrize("kwargs", [dict(eta=0.7), dict(num_inference_steps=3)])
def test_ddpm_refuses_ddim_only_arguments(kwargs):
    # they used to be ignored silently
    with pytest.raises(ValueError, match="apply to sampler='ddim' only"):
        tiny_ldm().sample(2, 8, torch.tensor([0, 1]), sampler="ddpm", progress=False, **kwargs)


def test_decode_refuses_non_finite_latents():
    with pytest.raises(ValueError, match="z must be finite"):
        tiny_ldm().decode(torch.full((1, 4, 4, 4), float("nan")))  # was NaN images


def test_labels_for_an_unconditional_model_are_rejected():
    ldm = tiny_ldm(num_classes=None)
    with pytest.raises(ValueError, match="unconditional"):
        ldm.eps_fn(torch.tensor([0]))


@pytest.mark.parametrize(
    "num_samples, image_size, match",
    [
        (0, 8, "num_samples"),
        (2.5, 8, "num_samples"),
        (2, 0, "image_size"),
        (2, 8.0, "image_size"),
    ],
)
def test_sample_rejects_bad_sizes(num_samples, image_size, match):
    with pytest.raises(ValueError, match=match):
        tiny_ldm().sample(num_samples, image_size, None, progress=False)


def test_eps_fn_bounds_guidance_scale_too():
    ldm = tiny_ldm()
    with pytest.raises(ValueError, match=r"guidance_scale must be a finite number in \[0, 100\]"):
        ldm.eps_fn(torch.tensor([0]), 1e30)
    ldm.eps_fn(torch.tensor([0]), 100.0)  # the bound itself is allowed


def test_sample_refuses_to_return_non_finite_images():
    # a diverging sampler used to hand back all-NaN images
    ldm = tiny_ldm()
    with torch.no_grad():
        ldm.unet.conv_out.bias.fill_(float("nan"))
    with pytest.raises(RuntimeError, match=r"sampling diverged.*guidance_scale=2.*schedule"):
        ldm.sample(
            2, 8, torch.tensor([0, 1]), guidance_scale=2.0, num_inference_steps=2, progress=False
        )


def test_prediction_type_is_validated_and_defaults_to_epsilon():
    assert tiny_ldm().prediction_type == "epsilon"
    with pytest.raises(ValueError, match="prediction_type must be one of"):
        LatentDiffusion(tiny_ae(), tiny_unet(), ScheduleConfig(), 1.0, prediction_type="v")


def _eps_ldm(T: int = 8) -> LatentDiffusion:
    return LatentDiffusion(tiny_ae(), tiny_unet(), ScheduleConfig(num_train_timesteps=T), 0.5)


def _v_ldm(read_as: str = "v_prediction", T: int = 8) -> LatentDiffusion:
    """_eps_ldm's UNet, converted exactly to a v-network, in an LDM that reads it as
    ``read_as``."""
    eps = _eps_ldm(T)
    v_unet = PredictionConverter(eps.unet, eps.schedule, "epsilon", "v_prediction")
    return LatentDiffusion(
        eps.autoencoder, v_unet, eps.schedule.config, 0.5, prediction_type=read_as
    )


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_v_prediction_model_is_sampled_as_v(sampler):
    # a v-model read as v gives the eps-model's samples; read as eps (the old behaviour for
    # every card) it gives other samples
    kw = dict(guidance_scale=2.0, sampler=sampler, progress=False)
    if sampler == "ddim":  # ddpm runs every training step and refuses num_inference_steps
        kw["num_inference_steps"] = 4
    y = torch.tensor([0, 2])
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    want = _eps_ldm().sample(2, 8, y, generator=gen(), **kw)
    got = _v_ldm().sample(2, 8, y, generator=gen(), **kw)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    wrong = _v_ldm("epsilon").sample(2, 8, y, generator=gen(), **kw)
    assert (wrong - want).abs().max() > 1e-2


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_loss_target_follows_prediction_type(prediction_type):
    ldm = tiny_ldm()
    ldm.prediction_type = prediction_type
    ldm.cond_drop_prob = 0.0
    z0, y = torch.randn(4, 4, 4, 4), torch.tensor([0, 1, 2, 0])
    g = torch.Generator().manual_seed(3)
    t = torch.randint(0, ldm.schedule.num_train_timesteps, (4,), generator=g)
    eps = torch.randn(z0.shape, generator=g)
    target = {"epsilon": eps, "v_prediction": get_v(z0, eps, t, ldm.schedule), "sample": z0}[
        prediction_type
    ]
    out = ldm.unet(q_sample(z0, t, eps, ldm.schedule), t, y)
    loss = ldm.loss(z0, y, torch.Generator().manual_seed(3))
    torch.testing.assert_close(loss, torch.nn.functional.mse_loss(out, target))


@pytest.mark.parametrize("size", [0, -4, 4.0, True])
def test_latent_shape_refuses_what_is_not_a_size(size):
    # found by the third bad-input pass: 0 gave (4, 0, 0), -4 gave (4, -1, -1)
    from ldm_teach.pretrained import load_latent_diffusion

    ldm = load_latent_diffusion()
    with pytest.raises(ValueError, match="image_size must be a positive int"):
        ldm.latent_shape(size)
    assert ldm.latent_shape(32) == (4, 8, 8)
