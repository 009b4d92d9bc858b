"""Autoencoder losses (ldm_teach.autoencoders.losses): hand-computed values."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ldm_teach.autoencoders.kl_vae import AutoencoderKL, AutoencoderKLConfig, autoencoder_kl_loss
from ldm_teach.autoencoders.losses import (
    AutoencoderLoss,
    AutoencoderLossConfig,
    adaptive_weight,
    discriminator_factor,
    hinge_d_loss,
    hinge_g_loss,
    non_saturating_d_loss,
    non_saturating_g_loss,
    r1_gradient_penalty,
    reconstruction_loss,
)

# ---- adversarial losses --------------------------------------------------------------------


def test_hinge_d_loss_hand_value():
    real = torch.tensor([2.0, 0.5, -1.0])
    fake = torch.tensor([-2.0, 0.0, 0.5])
    # relu(1 - real) = [0, 0.5, 2] -> 5/6 ; relu(1 + fake) = [0, 1, 1.5] -> 5/6
    # convention: L_D = 1/2 (real term + fake term) = 5/6
    assert hinge_d_loss(real, fake).item() == pytest.approx(5 / 6)
    # zero once real >= 1 and fake <= -1 (the margins are met)
    assert hinge_d_loss(torch.tensor([1.0, 3.0]), torch.tensor([-1.0, -4.0])).item() == 0.0


def test_hinge_d_loss_averages_over_patch_maps_of_any_shape():
    real = torch.zeros(2, 1, 3, 3)
    fake = torch.zeros(2, 1, 3, 3)
    assert hinge_d_loss(real, fake).item() == pytest.approx(1.0)  # 1/2 (1 + 1)


def test_hinge_g_loss_hand_value():
    assert hinge_g_loss(torch.tensor([-2.0, 0.0, 0.5])).item() == pytest.approx(0.5)


def test_non_saturating_losses_hand_values():
    zero = torch.zeros(4)
    assert non_saturating_d_loss(zero, zero).item() == pytest.approx(math.log(2))
    l3 = torch.full((4,), math.log(3.0))
    # softplus(-log 3) = log(4/3), softplus(log 3) = log 4
    assert non_saturating_d_loss(l3, l3).item() == pytest.approx(0.5 * math.log(16 / 3))
    assert non_saturating_g_loss(l3).item() == pytest.approx(math.log(4 / 3))


def test_non_saturating_d_loss_is_half_bce():
    torch.manual_seed(0)
    real, fake = torch.randn(2, 1, 3, 3), torch.randn(2, 1, 3, 3)
    bce = F.binary_cross_entropy_with_logits
    expected = 0.5 * (bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake)))
    assert torch.allclose(non_saturating_d_loss(real, fake), expected, atol=1e-6)
    assert torch.allclose(non_saturating_g_loss(fake), bce(fake, torch.ones_like(fake)), atol=1e-6)


def test_reconstruction_loss_kinds():
    x = torch.tensor([[[[1.0, -1.0]]]])
    x_hat = torch.tensor([[[[0.0, 1.0]]]])
    assert reconstruction_loss(x, x_hat, "l1").item() == pytest.approx(1.5)  # (1 + 2) / 2
    assert reconstruction_loss(x, x_hat, "l2").item() == pytest.approx(2.5)  # (1 + 4) / 2
    with pytest.raises(ValueError, match="kind must be one of"):
        reconstruction_loss(x, x_hat, "l3")
    with pytest.raises(ValueError, match="same shape"):
        reconstruction_loss(x, x_hat[..., :1])


# ---- adaptive weight, delayed start, R1 ------------------------------------------------------


def test_adaptive_weight_on_toy_graph():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    rec = (2 * w).pow(2).sum()  # grad 8w = [8, 16], norm 8 sqrt(5)
    g = (3 * w).sum()  # grad [3, 3], norm 3 sqrt(2)
    lam = adaptive_weight(rec, g, w)
    assert lam.item() == pytest.approx(8 * math.sqrt(5) / (3 * math.sqrt(2) + 1e-4), rel=1e-6)
    assert not lam.requires_grad  # detached
    (rec + lam * g).backward()  # the graph was retained
    assert torch.allclose(w.grad, 8 * w.detach() + lam * 3)


def test_adaptive_weight_is_clamped():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    rec = (2 * w).pow(2).sum()
    tiny_g = (1e-9 * w).sum()  # 8 sqrt(5) / (~1e-4) ~ 1.8e5 > 1e4
    assert adaptive_weight(rec, tiny_g, w).item() == pytest.approx(1e4)
    assert adaptive_weight(rec, tiny_g, w, max_weight=50.0).item() == pytest.approx(50.0)
    # a zero GAN gradient is saved by eps: norm / eps = 8 sqrt(5) * 1e4, clamped
    assert adaptive_weight(rec, (0 * w).sum(), w).item() == pytest.approx(1e4)
    with pytest.raises(ValueError, match="eps"):
        adaptive_weight(rec, tiny_g, w, eps=0.0)


def test_discriminator_factor_delayed_start():
    assert discriminator_factor(0, 10) == 0.0
    assert discriminator_factor(9, 10) == 0.0
    assert discriminator_factor(10, 10) == 1.0
    assert discriminator_factor(11, 10) == 1.0
    assert discriminator_factor(0, 0) == 1.0


def test_r1_penalty_of_linear_discriminator_is_weight_norm_squared():
    torch.manual_seed(0)
    disc = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    real = torch.randn(5, 3, 2, 2)
    w = disc[1].weight  # grad_x D(x) = w for every image
    penalty = r1_gradient_penalty(disc, real)
    assert penalty.item() == pytest.approx(w.pow(2).sum().item(), rel=1e-6)
    penalty.backward()  # differentiable in D's parameters: d||w||^2/dw = 2w
    assert torch.allclose(w.grad, 2 * w.detach())


def test_r1_penalty_of_patch_map_and_of_quadratic_discriminator():
    a = torch.tensor([1.0, -2.0, 0.5])
    conv = nn.Conv2d(3, 1, 1, bias=False)  # a 1x1 "PatchGAN": one logit per pixel
    with torch.no_grad():
        conv.weight.copy_(a.view(1, 3, 1, 1))
    real = torch.randn(2, 3, 4, 5)
    # summed logit map: grad = a at every pixel -> H W ||a||^2
    assert r1_gradient_penalty(conv, real).item() == pytest.approx(20 * 5.25, rel=1e-6)

    class Quadratic(nn.Module):
        def forward(self, x):
            return x.pow(2).sum(dim=(1, 2, 3))  # grad 2x

    real = torch.tensor([[[[1.0, 2.0]]], [[[0.0, 3.0]]]])  # ||x||^2 = 5 and 9
    assert r1_gradient_penalty(Quadratic(), real).item() == pytest.approx(4 * (5 + 9) / 2)
    assert real.grad is None  # the caller's tensor is left alone


# ---- the composed loss ---------------------------------------------------------------------


def _toy(seed=0):
    torch.manual_seed(seed)
    decoder_out = nn.Conv2d(2, 1, 1)  # stands in for the decoder's last layer
    z = torch.randn(2, 2, 4, 4)
    x = torch.rand(2, 1, 4, 4) * 2 - 1
    x_hat = decoder_out(z)
    logits_fake = 3.0 * x_hat.mean(dim=(1, 2, 3)) + x_hat[:, :, :2, :2].sum(dim=(1, 2, 3))
    kl = torch.tensor([1.0, 3.0])
    return decoder_out, x, x_hat, logits_fake, kl


def _perceptual(x, y):
    return (x - y).pow(2).mean(dim=(1, 2, 3))  # (B,)


@pytest.mark.parametrize("disc_loss", ["hinge", "non_saturating"])
def test_generator_loss_is_sum_of_parts(disc_loss):
    cfg = AutoencoderLossConfig(
        kl_weight=0.1,
        perceptual_weight=0.7,
        disc_weight=0.5,
        disc_start=5,
        disc_loss=disc_loss,
        rec_kind="l1",
    )
    layer, x, x_hat, logits_fake, kl = _toy()
    w = layer.weight
    loss, logs = AutoencoderLoss(cfg).generator_loss(
        x, x_hat, kl, logits_fake, w, step=5, perceptual_fn=_perceptual
    )
    # by hand
    rec = (x - x_hat).abs().mean()
    p = _perceptual(x, x_hat).mean()
    nll = rec + 0.7 * p
    g = -logits_fake.mean() if disc_loss == "hinge" else F.softplus(-logits_fake).mean()
    grad_nll = torch.autograd.grad(nll, w, retain_graph=True)[0]
    grad_g = torch.autograd.grad(g, w, retain_graph=True)[0]
    lam = 0.5 * grad_nll.norm() / (grad_g.norm() + 1e-4)
    expected = nll + 0.1 * 2.0 + lam * g
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert logs["rec"] == pytest.approx(rec.item())
    assert logs["perceptual"] == pytest.approx(p.item())
    assert logs["kl"] == pytest.approx(2.0)
    assert logs["g_loss"] == pytest.approx(g.item())
    assert logs["d_weight"] == pytest.approx(lam.item(), rel=1e-6)
    assert logs["disc_factor"] == 1.0
    # gradient: lambda is a constant, so dL/dw = dnll/dw + lambda dg/dw
    loss.backward()
    assert torch.allclose(w.grad, grad_nll + lam.detach() * grad_g, atol=1e-6)


def test_generator_loss_before_disc_start_has_no_adversarial_term():
    cfg = AutoencoderLossConfig(kl_weight=0.1, perceptual_weight=0.0, disc_start=5)
    layer, x, x_hat, logits_fake, kl = _toy()
    loss, logs = AutoencoderLoss(cfg).generator_loss(x, x_hat, kl, logits_fake, layer.weight, 4)
    assert loss.item() == pytest.approx(((x - x_hat).abs().mean() + 0.2).item(), rel=1e-6)
    assert logs["d_weight"] == 0.0 and logs["disc_factor"] == 0.0 and logs["perceptual"] == 0.0


def test_generator_loss_under_no_grad_drops_adversarial_term():
    cfg = AutoencoderLossConfig(kl_weight=0.0, perceptual_weight=0.0, disc_start=0)
    layer, x, _, _, kl = _toy()
    with torch.no_grad():
        x_hat = layer(torch.randn(2, 2, 4, 4))
        loss, logs = AutoencoderLoss(cfg).generator_loss(
            x, x_hat, kl, x_hat.mean(dim=(1, 2, 3)), layer.weight, 10
        )
    assert logs["d_weight"] == 0.0
    assert loss.item() == pytest.approx((x - x_hat).abs().mean().item(), rel=1e-6)


def test_without_perceptual_and_disc_matches_autoencoder_kl_loss():
    torch.manual_seed(0)
    vae_cfg = AutoencoderKLConfig(
        in_channels=1,
        base_channels=8,
        channel_mult=(1, 2),
        latent_channels=2,
        norm_groups=4,
        mid_attention=False,
    )
    model = AutoencoderKL(vae_cfg)
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    ref, ref_logs = autoencoder_kl_loss(
        model, x, kl_weight=1e-3, generator=torch.Generator().manual_seed(1)
    )
    x_hat, posterior = model(x, generator=torch.Generator().manual_seed(1))
    cfg = AutoencoderLossConfig(
        kl_weight=1e-3, perceptual_weight=0.0, disc_weight=0.0, disc_start=0
    )
    loss, logs = AutoencoderLoss(cfg).generator_loss(
        x, x_hat, posterior.kl(), torch.zeros(2, 1, 1, 1), model.decoder.conv_out.weight, 0
    )
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    assert logs["rec"] == pytest.approx(ref_logs["rec"]) and logs["kl"] == pytest.approx(
        ref_logs["kl"]
    )


def test_discriminator_loss_is_factor_times_d_loss():
    real = torch.tensor([2.0, 0.5, -1.0])
    fake = torch.tensor([-2.0, 0.0, 0.5])
    hinge = AutoencoderLoss(AutoencoderLossConfig(disc_start=3))
    loss, logs = hinge.discriminator_loss(real, fake, step=3)
    assert loss.item() == pytest.approx(5 / 6)
    assert logs["logits_real"] == pytest.approx(0.5) and logs["logits_fake"] == pytest.approx(-0.5)
    assert hinge.discriminator_loss(real, fake, step=2)[0].item() == 0.0
    ns = AutoencoderLoss(AutoencoderLossConfig(disc_start=0, disc_loss="non_saturating"))
    zero = torch.zeros(3)
    assert ns.discriminator_loss(zero, zero, 0)[0].item() == pytest.approx(math.log(2))


def test_config_validation_and_missing_perceptual_fn():
    with pytest.raises(ValueError, match="disc_loss"):
        AutoencoderLossConfig(disc_loss="wgan")
    with pytest.raises(ValueError, match="rec_kind"):
        AutoencoderLossConfig(rec_kind="huber")
    with pytest.raises(ValueError, match="kl_weight"):
        AutoencoderLossConfig(kl_weight=-1.0)
    with pytest.raises(AttributeError):
        AutoencoderLossConfig().kl_weight = 1.0  # type: ignore[misc]
    layer, x, x_hat, logits_fake, kl = _toy()
    with pytest.raises(ValueError, match="perceptual_fn"):
        AutoencoderLoss(AutoencoderLossConfig()).generator_loss(
            x, x_hat, kl, logits_fake, layer.weight, 0
        )


def test_wgan_gradient_penalty_on_a_linear_critic():
    from ldm_teach.autoencoders import wgan_gradient_penalty

    # D(x) = <w, x>: its gradient is w everywhere, so the penalty is (||w|| - 1)^2
    w = torch.randn(1, 2, 3, 3)

    def critic(x):
        return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(4, 2, 3, 3), torch.randn(4, 2, 3, 3)
    pen = wgan_gradient_penalty(critic, real, fake)
    assert pen.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)
    unit = w / w.norm()
    assert wgan_gradient_penalty(
        lambda x: (x * unit).flatten(1).sum(1), real, fake
    ).item() == pytest.approx(0.0, abs=1e-10)
    with pytest.raises(ValueError, match="same shape"):
        wgan_gradient_penalty(critic, real, fake[:2])


def test_wgan_gradient_penalty_backpropagates_into_the_discriminator():
    from ldm_teach.autoencoders import PatchDiscriminator, wgan_gradient_penalty

    disc = PatchDiscriminator(in_channels=1, base_channels=8, num_layers=2, norm="none")
    pen = wgan_gradient_penalty(
        disc,
        torch.randn(2, 1, 32, 32),
        torch.randn(2, 1, 32, 32),
        generator=torch.Generator().manual_seed(0),
    )
    pen.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in disc.parameters())


def test_wgan_gradient_penalty_needs_gradients():
    from ldm_teach.autoencoders import wgan_gradient_penalty

    with torch.no_grad(), pytest.raises(RuntimeError, match="needs gradients"):
        wgan_gradient_penalty(
            lambda x: x.sum((1, 2, 3)), torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
        )
    with pytest.raises(ValueError, match="non-empty"):
        wgan_gradient_penalty(lambda x: x, torch.zeros(0, 1, 4, 4), torch.zeros(0, 1, 4, 4))


# ---- input checks -----------------------------------------------------------------------


@pytest.mark.parametrize("fn", [hinge_d_loss, non_saturating_d_loss])
@pytest.mark.parametrize(
    "real, fake, match",
    [
        (torch.zeros(0), torch.zeros(3), "logits_real must be non-empty"),
        (torch.zeros(3), torch.zeros(0, 1, 2, 2), "logits_fake must be non-empty"),
        (torch.zeros(3, dtype=torch.int64), torch.zeros(3), "logits_real must be a floating"),
    ],
)
def test_d_losses_refuse_empty_and_integer_logits(fn, real, fake, match):
    with pytest.raises(ValueError, match=match):
        fn(real, fake)


@pytest.mark.parametrize("fn", [hinge_g_loss, non_saturating_g_loss])
def test_g_losses_refuse_empty_and_integer_logits(fn):
    with pytest.raises(ValueError, match="logits_fake must be non-empty"):
        fn(torch.zeros(0, 1, 4, 4))
    with pytest.raises(ValueError, match="logits_fake must be a floating"):
        fn(torch.zeros(2, dtype=torch.int64))


def test_reconstruction_loss_refuses_empty_and_integer_images():
    with pytest.raises(ValueError, match="x must be non-empty"):
        reconstruction_loss(torch.zeros(0, 1, 2, 2), torch.zeros(0, 1, 2, 2))
    with pytest.raises(ValueError, match="x must be a floating"):
        reconstruction_loss(
            torch.full((1, 1, 2, 2), 255, dtype=torch.uint8), torch.zeros(1, 1, 2, 2)
        )
    # mixed float dtypes (a bfloat16 x_hat under autocast) are fine
    assert (
        reconstruction_loss(
            torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2, dtype=torch.bfloat16)
        ).item()
        == 1.0
    )


def test_adaptive_weight_refuses_graphless_and_non_scalar_losses():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    with pytest.raises(ValueError, match="last_layer_weight must be a tensor that requires"):
        adaptive_weight(loss, loss, w.detach())
    with pytest.raises(ValueError, match="g_loss must require grad"):
        adaptive_weight(loss, torch.tensor(1.0), w)
    with pytest.raises(ValueError, match="rec_loss must be a scalar"):
        adaptive_weight(w * 2, loss, w)


def test_generator_loss_and_penalties_refuse_bad_shapes_and_dtypes():
    layer, x, x_hat, logits_fake, kl = _toy()
    loss = AutoencoderLoss(AutoencoderLossConfig(perceptual_weight=0.0, disc_start=0))
    with pytest.raises(ValueError, match=r"posterior_kl must be the KL per image, shape \(B,\)"):
        loss.generator_loss(x, x_hat, kl[:1], logits_fake, layer.weight, 0)
    with pytest.raises(ValueError, match="posterior_kl must be a floating"):
        loss.generator_loss(x, x_hat, kl.long(), logits_fake, layer.weight, 0)
    with pytest.raises(ValueError, match="x must be non-empty"):
        loss.generator_loss(x[:0], x_hat[:0], kl[:0], logits_fake, layer.weight, 0)
    with pytest.raises(ValueError, match="real must be non-empty"):
        r1_gradient_penalty(nn.Identity(), torch.zeros(0, 1, 4, 4))
    from ldm_teach.autoencoders import wgan_gradient_penalty

    with pytest.raises(ValueError, match="same dtype"):
        wgan_gradient_penalty(
            lambda t: t.sum((1, 2, 3)),
            torch.zeros(2, 1, 4, 4),
            torch.zeros(2, 1, 4, 4, dtype=torch.float64),
        )


@pytest.mark.parametrize("field", ["kl_weight", "perceptual_weight", "disc_weight"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, True])
def test_loss_config_weights_must_be_finite_and_non_negative(field, value):
    from ldm_teach.autoencoders import AutoencoderLossConfig

    with pytest.raises(ValueError, match=field):
        AutoencoderLossConfig(**{field: value})


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_kl_weight_and_commitment_cost_refuse_nan_and_inf(value):
    from ldm_teach.autoencoders import (
        AutoencoderKL,
        AutoencoderKLConfig,
        VQVAEConfig,
        autoencoder_kl_loss,
    )

    with pytest.raises(ValueError, match="commitment_cost"):
        VQVAEConfig(commitment_cost=value)
    model = AutoencoderKL(
        AutoencoderKLConfig(
            in_channels=1, base_channels=8, channel_mult=(1,), norm_groups=4, latent_channels=2
        )
    )
    with pytest.raises(ValueError, match="kl_weight"):
        autoencoder_kl_loss(model, torch.zeros(1, 1, 8, 8), value)


@pytest.mark.parametrize("step,start", [(float("nan"), 3), (1.5, 3), (-1, 3), (2, True)])
def test_discriminator_factor_refuses_what_is_not_a_step(step, start):
    from ldm_teach.autoencoders.losses import discriminator_factor

    with pytest.raises(ValueError, match="must be an int >= 0"):
        discriminator_factor(step, start)
    assert discriminator_factor(3, 3) == 1.0 and discriminator_factor(2, 3) == 0.0
