"""Diagnose a Latent Diffusion Model on a batch of images (course Sec. 10.3.6).

Four measurements, each aimed at a failure that the chapter lists and that a student meets
in practice (LDM: Rombach et al. 2022, arXiv:2112.10752, Sec. 3.2, Eq. 2; Appendix G):

    z0          = scale_factor · E(x)                      latent statistics
    MSE_rec     = mean (x - D(z0 / scale_factor))²           stage-1 reconstruction
    PSNR        = 10 log10(2² / MSE_rec)                     (images in [-1, 1])
    MSE_eps(b)  = mean ||eps - eps_theta(z_t, t, y)||²,  t ~ U[t_lo, t_hi) of bucket b
                  (for a v- or x0-model, eps_theta is the eps its output implies)
    a few DDIM samples                                        the end-to-end check
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ldm_teach.argcheck import check_bool, is_int
from ldm_teach.diffusion import predict_x0_and_eps, q_sample
from ldm_teach.models.latent_diffusion import LatentDiffusion

#: images may exceed [-1, 1] by this much (rounding); [0, 1] or [0, 255] images are refused
IMAGE_RANGE_SLACK = 1e-3


def bucket_edges(num_train_timesteps: int, num_buckets: int) -> list[tuple[int, int]]:
    """Split [0, T) into ``num_buckets`` contiguous, nearly equal ranges [t_lo, t_hi).

    Edges are floor(i T / num_buckets), i = 0 .. num_buckets, so the ranges cover [0, T)
    with no gap or overlap and each holds at least one timestep.

    Raises:
        ValueError: unless num_buckets is an int in [1, T].
    """
    T = num_train_timesteps
    if not is_int(num_buckets):
        raise ValueError(f"num_buckets must be an int in [1, {T}], got {num_buckets!r}")
    if not 1 <= num_buckets <= T:
        raise ValueError(f"num_buckets must be an int in [1, {T}], got {num_buckets!r}")
    edges = [i * T // num_buckets for i in range(num_buckets + 1)]
    return [(edges[i], edges[i + 1]) for i in range(num_buckets)]


@torch.no_grad()
def diagnose(
    ldm: LatentDiffusion,
    images: Tensor,
    labels: Tensor | None = None,
    *,
    num_buckets: int = 10,
    generator: torch.Generator | None = None,
    sample: bool = True,
) -> dict[str, Any]:
    """Measure the numbers that reveal the common ways an LDM goes wrong.

    How to read the result:

    - ``latent_std`` (of the *scaled* latents z0) should be near 1, which is what the
      schedule assumes (LDM Appendix G). A forgotten or wrong ``scale_factor`` shows as a
      std far from 1 (e.g. 5 or 0.05) and ``latent_scale_ok`` False. The effective SNR is
      std² · ᾱ_t / (1 - ᾱ_t), so a large std means the late, "noisy" steps still show the
      signal (the model never learns to start from pure noise), and a small one means the
      signal is drowned early. ``latent_mean`` far from 0 or one channel in
      ``latent_channel_std`` far from the rest points to unnormalised latents.
    - ``recon_mse`` / ``recon_psnr`` bound the quality of everything downstream: samples
      cannot be sharper than D(E(x)). A low PSNR (say below 20 dB on digits) blames stage 1,
      not the diffusion model.
    - ``eps_mse`` per timestep bucket: predicting eps = 0 scores 1.0 (eps ~ N(0, I)), so a
      trained eps-model is well below 1 everywhere, lowest at large t, where x_t is nearly
      all noise, and highest near t = 0. Values near or above 1 in *every* bucket mean the
      network does not predict eps: a v- or x0-model read as eps (eps/v mismatch), labels or
      latents not the ones it was trained on, or a missing scale factor.
    - ``sample``: if eps_mse looks fine but samples are noise or blobs, the training and
      sampling schedules disagree (wrong ``beta_schedule``/``beta_start``/``beta_end`` or T
      at sampling), or the latents are decoded without dividing by the scale factor.

    Everything runs under ``torch.no_grad`` in eval mode (the previous mode is restored) and
    draws its randomness from ``generator``, so equal generators give equal numbers.

    Args:
        ldm: the model to diagnose.
        images: (B, C, H, W) float in [-1, 1], C = the autoencoder's in_channels, B >= 1.
        labels: (B,) int64 class labels, used for eps_mse and the samples when the model is
            class-conditional (ignored otherwise); None uses the null label / no label.
        num_buckets: number of equal timestep ranges for eps_mse, in [1, T].
        generator: a CPU ``torch.Generator``; default ``torch.Generator().manual_seed(0)``.
        sample: also draw min(8, B) samples with 20 DDIM steps (or T if T < 20).
    Returns:
        A dict with
            "latent_mean": float, "latent_std": float (over all of z0),
            "latent_channel_std": (c,) float32 tensor, one std per latent channel,
            "latent_scale_ok": bool, abs(latent_std - 1) < 0.5,
            "recon_mse": float (in [-1, 1] units), "recon_psnr": float in dB (+inf if the
                MSE is 0, NaN if it is NaN),
            "eps_mse": list of num_buckets tuples (t_lo: int, t_hi: int, mse: float) with
                t in [t_lo, t_hi), covering [0, T),
            "sample": (n, C, H, W) float32 in [-1, 1], n = min(8, B), or None if not sample.
    Raises:
        ValueError: if images is not a floating-point (B, C, H, W) tensor with the
            autoencoder's channel count and finite values in [-1, 1], labels are not an
            integer tensor of shape (B,), or num_buckets is not in [1, T]; labels out of
            range raise from ``ldm.unet`` / ``ldm.sample``.
    """
    sample = check_bool(sample, "sample")
    in_channels = ldm.autoencoder.config.in_channels
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[0] < 1:
        got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be a (B, {in_channels}, H, W) tensor with B >= 1, got {got}")
    if images.shape[1] != in_channels:
        raise ValueError(
            f"images must have {in_channels} channels (the autoencoder's in_channels), "
            f"got {images.shape[1]}"
        )
    if not images.is_floating_point():
        raise ValueError(
            f"images must be a floating-point tensor in [-1, 1], got dtype {images.dtype}; "
            "map uint8 [0, 255] images with x.float() / 127.5 - 1"
        )
    lo, hi = torch.aminmax(images.detach())
    lo, hi = float(lo), float(hi)
    if not (-1.0 - IMAGE_RANGE_SLACK <= lo and hi <= 1.0 + IMAGE_RANGE_SLACK):  # NaN fails
        raise ValueError(
            f"images must be finite and in [-1, 1], got range [{lo:.4g}, {hi:.4g}]; map "
            "[0, 255] images with x / 127.5 - 1 and [0, 1] images with 2 * x - 1"
        )
    if sample and images.shape[-2] != images.shape[-1]:
        raise ValueError(
            f"sample=True draws square images: images must be square, got "
            f"{images.shape[-2]}x{images.shape[-1]} (pass sample=False)"
        )
    B = images.shape[0]
    if labels is not None and (not isinstance(labels, Tensor) or labels.shape != (B,)):
        got = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(f"labels must have shape ({B},), got {got}")
    if labels is not None and (
        labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool
    ):
        raise ValueError(
            f"labels must be an integer tensor (torch.long), got dtype {labels.dtype}; "
            "float labels would be truncated"
        )
    T = ldm.schedule.num_train_timesteps
    buckets = bucket_edges(T, num_buckets)
    if generator is None:
        generator = torch.Generator().manual_seed(0)

    was_training = ldm.training
    ldm.eval()
    try:  # the model's mode is restored even when a step below raises
        device = ldm.scale_factor.device
        x = images.to(device=device, dtype=torch.float32)
        y = None
        if ldm.num_classes is not None and labels is not None:
            y = labels.to(device=device, dtype=torch.long)

        # (a) statistics of the scaled latents z0 = scale_factor · E(x)
        z0 = ldm.encode(x)  # (B, c, h, w)
        latent_std = float(z0.std())
        channel_std = z0.transpose(0, 1).flatten(1).std(dim=1)  # (c, B*h*w) -> (c,)

        # (b) stage-1 reconstruction, in [-1, 1] units
        recon_mse = float(F.mse_loss(ldm.decode(z0), x))
        if math.isnan(recon_mse):  # NaN > 0 is False: it used to report +inf dB
            recon_psnr = math.nan
        else:
            recon_psnr = 10.0 * math.log10(4.0 / recon_mse) if recon_mse > 0 else math.inf

        # (c) noise-prediction error per timestep bucket (the LDM loss, Eq. 2, restricted to t)
        eps_mse: list[tuple[int, int, float]] = []
        for t_lo, t_hi in buckets:
            t = torch.randint(t_lo, t_hi, (B,), generator=generator).to(device)  # (B,)
            eps = torch.randn(z0.shape, generator=generator).to(device)  # (B, c, h, w)
            z_t = q_sample(z0, t, eps, ldm.schedule)
            out = ldm.unet(z_t, t, y)
            # the eps the network implies: its output itself, or converted from v or x0
            eps_hat = (
                out
                if ldm.prediction_type == "epsilon"
                else predict_x0_and_eps(out, z_t, t, ldm.schedule, ldm.prediction_type)[1]
            )
            eps_mse.append((t_lo, t_hi, float(F.mse_loss(eps_hat, eps))))

        # (d) a few samples, end to end
        samples = None
        if sample:
            n = min(8, B)
            samples = ldm.sample(
                n,
                images.shape[-1],
                y[:n] if y is not None else None,
                num_inference_steps=min(20, T),
                generator=generator,
                progress=False,
            ).cpu()

    finally:
        ldm.train(was_training)
    return {
        "latent_mean": float(z0.mean()),
        "latent_std": latent_std,
        "latent_channel_std": channel_std.float().cpu(),
        "latent_scale_ok": abs(latent_std - 1.0) < 0.5,
        "recon_mse": recon_mse,
        "recon_psnr": recon_psnr,
        "eps_mse": eps_mse,
        "sample": samples,
    }
