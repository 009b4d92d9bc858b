"""diagnose(): latent statistics, reconstruction, eps-MSE per timestep bucket, samples."""

from __future__ import annotations

import math

import pytest
import torch

from ldm_teach.diffusion import ScheduleConfig
from ldm_teach.models import LatentDiffusion, compute_scale_factor, diagnose
from ldm_teach.models.diagnose import bucket_edges
from tests.models.test_latent_diffusion import tiny_ae, tiny_unet

T = 50


def tiny_ldm(scale_factor: float | None = None, num_classes: int | None = 3) -> LatentDiffusion:
    ae = tiny_ae()
    if scale_factor is None:  # the correct one: unit-std latents on these images
        scale_factor = compute_scale_factor(ae, images())
    return LatentDiffusion(
        ae, tiny_unet(num_classes), ScheduleConfig(num_train_timesteps=T), scale_factor
    )


def images(B: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.rand(B, 1, 8, 8, generator=g) * 2 - 1


def test_returns_every_key_with_its_shape_and_type():
    ldm = tiny_ldm()
    x, y = images(), torch.tensor([0, 1, 2, 0])
    out = diagnose(ldm, x, y, num_buckets=5)
    assert set(out) == {
        "latent_mean", "latent_std", "latent_channel_std", "latent_scale_ok",
        "recon_mse", "recon_psnr", "eps_mse", "sample",
    }  # fmt: skip
    for key in ("latent_mean", "latent_std", "recon_mse", "recon_psnr"):
        assert isinstance(out[key], float) and math.isfinite(out[key]), key
    assert out["latent_channel_std"].shape == (4,)
    assert isinstance(out["latent_scale_ok"], bool) and out["latent_scale_ok"]
    # the correct scale factor gives unit std of the scaled latents
    assert out["latent_std"] == pytest.approx(1.0, rel=1e-5)
    z = ldm.encode(x)
    assert out["latent_mean"] == pytest.approx(float(z.mean()), rel=1e-5)
    assert torch.allclose(out["latent_channel_std"], z.transpose(0, 1).flatten(1).std(1))
    mse = float(((ldm.decode(z) - x) ** 2).mean())
    assert out["recon_mse"] == pytest.approx(mse, rel=1e-5)
    assert out["recon_psnr"] == pytest.approx(10 * math.log10(4 / mse), rel=1e-5)
    assert len(out["eps_mse"]) == 5
    for t_lo, t_hi, m in out["eps_mse"]:
        assert isinstance(t_lo, int) and isinstance(t_hi, int) and isinstance(m, float)
        assert m > 0
    assert out["sample"].shape == (4, 1, 8, 8)
    assert out["sample"].dtype == torch.float32
    assert float(out["sample"].abs().max()) <= 1.0


def test_sample_false_gives_none_and_batch_above_eight_gives_eight_samples():
    ldm = tiny_ldm(num_classes=None)
    assert diagnose(ldm, images(), num_buckets=1, sample=False)["sample"] is None
    out = diagnose(ldm, images(9), num_buckets=1)
    assert out["sample"].shape == (8, 1, 8, 8)


def test_latent_scale_ok_flips_with_a_wrong_scale_factor():
    good = tiny_ldm()
    bad = tiny_ldm(scale_factor=100 * float(good.scale_factor))
    out_good = diagnose(good, images(), num_buckets=2, sample=False)
    out_bad = diagnose(bad, images(), num_buckets=2, sample=False)
    assert out_good["latent_scale_ok"] and not out_bad["latent_scale_ok"]
    assert out_bad["latent_std"] == pytest.approx(100 * out_good["latent_std"], rel=1e-4)


@pytest.mark.parametrize("num_buckets", [1, 3, 7, T])
def test_buckets_cover_zero_to_T_without_gaps(num_buckets):
    edges = bucket_edges(T, num_buckets)
    assert len(edges) == num_buckets
    assert edges[0][0] == 0 and edges[-1][1] == T
    for (_, hi), (next_lo, _) in zip(edges[:-1], edges[1:], strict=True):
        assert hi == next_lo
    assert all(hi > lo for lo, hi in edges)
    sizes = [hi - lo for lo, hi in edges]
    assert max(sizes) - min(sizes) <= 1  # equal ranges, up to rounding
    out = diagnose(tiny_ldm(num_classes=None), images(2), num_buckets=num_buckets, sample=False)
    assert [(lo, hi) for lo, hi, _ in out["eps_mse"]] == edges


def test_same_generator_same_numbers_and_train_mode_is_restored():
    ldm = tiny_ldm().train()
    x, y = images(), torch.tensor([0, 1, 2, 0])
    a = diagnose(ldm, x, y, num_buckets=3, generator=torch.Generator().manual_seed(7))
    assert ldm.training and ldm.unet.training
    b = diagnose(ldm, x, y, num_buckets=3, generator=torch.Generator().manual_seed(7))
    assert a["eps_mse"] == b["eps_mse"]
    assert torch.equal(a["sample"], b["sample"])
    c = diagnose(ldm, x, y, num_buckets=3, generator=torch.Generator().manual_seed(8))
    assert a["eps_mse"] != c["eps_mse"]
    # the default generator is seeded too
    assert (
        diagnose(ldm, x, y, num_buckets=3)["eps_mse"]
        == diagnose(ldm, x, y, num_buckets=3)["eps_mse"]
    )


def test_bad_inputs_raise():
    ldm = tiny_ldm()
    x = images()
    for bad in (0, T + 1):
        with pytest.raises(ValueError, match="num_buckets"):
            diagnose(ldm, x, num_buckets=bad, sample=False)
    with pytest.raises(ValueError, match="channels"):
        diagnose(ldm, torch.zeros(2, 3, 8, 8), sample=False)
    with pytest.raises(ValueError, match="images must be"):
        diagnose(ldm, torch.zeros(1, 8, 8), sample=False)
    with pytest.raises(ValueError, match="labels must have shape"):
        diagnose(ldm, x, torch.tensor([0, 1]), sample=False)


def test_uint8_out_of_range_images_and_float_labels_are_refused():
    ldm = tiny_ldm()
    x = images()
    with pytest.raises(ValueError, match="images must be a floating-point tensor.*uint8"):
        diagnose(ldm, ((x + 1) * 127.5).to(torch.uint8), sample=False)
    with pytest.raises(ValueError, match=r"images must be finite and in \[-1, 1\]"):
        diagnose(ldm, (x + 1) * 127.5, sample=False)  # [0, 255] floats
    with pytest.raises(ValueError, match=r"images must be finite"):
        diagnose(ldm, torch.full_like(x, float("nan")), sample=False)
    with pytest.raises(ValueError, match="labels must be an integer tensor"):
        diagnose(ldm, x, torch.tensor([0.2, 1.7, 2.9, 0.0]), sample=False)  # was truncated


def test_nan_reconstruction_gives_nan_psnr_not_inf(monkeypatch):
    ldm = tiny_ldm()
    monkeypatch.setattr(ldm, "decode", lambda z: torch.full((z.shape[0], 1, 8, 8), float("nan")))
    out = diagnose(ldm, images(), sample=False)
    assert math.isnan(out["recon_mse"]) and math.isnan(out["recon_psnr"])  # was +inf


def test_shipped_digits_ldm_is_healthy_and_a_missing_scale_factor_shows():
    from ldm_teach.data import DigitsDataset
    from ldm_teach.pretrained import load_latent_diffusion

    ldm = load_latent_diffusion("digits-ldm")
    ds = DigitsDataset("test")
    x, y = ds.images[:32], ds.labels[:32]
    out = diagnose(ldm, x, y, sample=False)
    assert out["latent_scale_ok"]
    assert out["recon_psnr"] > 25.0
    assert len(out["eps_mse"]) == 10
    assert all(m < 0.5 for _, _, m in out["eps_mse"][2:8])  # the middle buckets
    # forgetting the scale factor (scale_factor = 1) leaves the raw latent std, far from 1
    with torch.no_grad():
        ldm.scale_factor.fill_(1.0)
    assert not diagnose(ldm, x, y, num_buckets=2, sample=False)["latent_scale_ok"]


def test_eps_error_of_a_v_model_is_measured_on_the_eps_it_implies():
    from ldm_teach.models import PredictionConverter

    eps_model = tiny_ldm()
    v_unet = PredictionConverter(
        eps_model.unet, eps_model.schedule, source="epsilon", target="v_prediction"
    )
    read_as_v = LatentDiffusion(
        eps_model.autoencoder,
        v_unet,
        eps_model.schedule.config,
        float(eps_model.scale_factor),
        prediction_type="v_prediction",
    )
    read_as_eps = LatentDiffusion(
        eps_model.autoencoder, v_unet, eps_model.schedule.config, float(eps_model.scale_factor)
    )
    y = torch.arange(4) % 3
    runs = [
        diagnose(
            m, images(), y, num_buckets=4, sample=False, generator=torch.Generator().manual_seed(0)
        )["eps_mse"]
        for m in (eps_model, read_as_v, read_as_eps)
    ]
    for (_, _, a), (_, _, b) in zip(runs[0], runs[1], strict=True):
        assert math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)
    assert runs[2] != runs[0]  # the same v-network read as eps is the clinic's case 4


def test_the_model_mode_is_restored_when_a_step_fails_and_samples_need_square_images():
    # found by the fourth bad-input pass
    ldm = tiny_ldm().train()
    with pytest.raises(ValueError, match="must be square"):
        diagnose(ldm, torch.zeros(2, 1, 8, 16), torch.zeros(2, dtype=torch.long))
    with pytest.raises(Exception):  # noqa: B017 - a label out of range fails inside the UNet
        diagnose(ldm, images(2), torch.full((2,), 99))
    assert ldm.training
