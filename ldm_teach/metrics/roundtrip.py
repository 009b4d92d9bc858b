"""What survives a round trip through a code: a learned autoencoder, pooled pixels or JPEG.

The chapter (Sec. 10.1.3) sets *perceptual* compression (a learned autoencoder that may
drop what no one notices) against *information* compression (keep the signal, low-pass or
entropy-code it). These helpers put the three on one footing for a batch of images:

- :func:`roundtrip` encodes and decodes with a stage-1 model: a KL or VQ autoencoder
  (posterior mode / nearest codes, as in Rombach et al. 2022, arXiv:2112.10752, Tab. 8),
  or :class:`~ldm_teach.autoencoders.PooledPixels` (average pooling + bicubic upsampling);
- :func:`jpeg_patches_at_bpp` codes whole photographs with JPEG at a target rate and
  scores the same patches;
- :func:`offset_share` says how much of a reconstruction's squared error is a shift of
  each image's mean colour, an error PSNR punishes in full and the eye forgives.

Reconstructions are clamped to [-1, 1]; PSNR and SSIM are :func:`ldm_teach.metrics.psnr`
and :func:`ldm_teach.metrics.ssim` averaged over the batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ldm_teach.argcheck import check_int
from ldm_teach.autoencoders import VQVAE, AutoencoderKL, IdentityAutoencoder, PooledPixels
from ldm_teach.data import patchify
from ldm_teach.metrics.image import psnr, ssim
from ldm_teach.metrics.rate import jpeg_at_bpp
from ldm_teach.metrics.reconstruction import reconstruct

PerceptualFn = Callable[[Tensor, Tensor], Tensor]


def _check_perceptual(perceptual_fn: PerceptualFn | None) -> None:
    if perceptual_fn is not None and not callable(perceptual_fn):
        raise ValueError(
            f"perceptual_fn must be None or a callable (x, x_hat) -> (B,) distances, "
            f"got {type(perceptual_fn).__name__}"
        )


def _scores(rec: Tensor, x: Tensor, perceptual_fn: PerceptualFn | None) -> dict:
    return {
        "psnr_db": psnr(rec, x).mean().item(),
        "ssim": ssim(rec, x).mean().item(),
        "perceptual": None if perceptual_fn is None else perceptual_fn(x, rec).mean().item(),
    }


@torch.no_grad()
def roundtrip(model: nn.Module, x: Tensor, perceptual_fn: PerceptualFn | None = None) -> dict:
    """Encode ``x`` with a stage-1 model, decode it, and score the reconstruction.

    Args:
        model: an :class:`AutoencoderKL` (the posterior mode is decoded: what an LDM
            diffuses), a :class:`VQVAE` (the nearest codes), or a
            :class:`PooledPixels` / :class:`IdentityAutoencoder` (no learning).
        x: images (B, C, H, W), float, in [-1, 1], B >= 1, H and W at least 11 (SSIM).
        perceptual_fn: optional ``(x, x_hat) -> (B,)`` distances (e.g.
            :class:`ldm_teach.metrics.LPIPSMetric`); its batch mean is "perceptual".
    Returns:
        {"rec": (B, C, H, W) reconstruction clamped to [-1, 1], "z": the latent
        (B, c, h, w), "latent_shape": (c, h, w), "numbers": c*h*w values per image,
        "ratio": C*H*W / (c*h*w) (how many times fewer numbers), "psnr_db": mean PSNR in dB
        (data range 2), "ssim": mean SSIM, "perceptual": float or None}.
    Raises:
        TypeError: for any other kind of model.
        ValueError: for ``x`` that is not a non-empty 4-D float tensor, that the model
            refuses (channels, sides), or a non-callable ``perceptual_fn``.
    """
    if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[0] == 0 or not x.is_floating_point():
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a non-empty (B, C, H, W) float tensor, got {got}")
    _check_perceptual(perceptual_fn)
    if isinstance(model, (AutoencoderKL, VQVAE)):
        rec, z = reconstruct(model, x)
    elif isinstance(model, (PooledPixels, IdentityAutoencoder)):
        z = model.encode(x).mode()  # (B, c, h, w): block means, or the image itself
        rec = model.decode(z).clamp(-1, 1)
    else:
        raise TypeError(
            "model must be an AutoencoderKL, VQVAE, PooledPixels or IdentityAutoencoder, "
            f"got {type(model).__name__}"
        )
    return {
        "rec": rec,
        "z": z,
        "latent_shape": tuple(z.shape[1:]),
        "numbers": z[0].numel(),
        "ratio": x[0].numel() / z[0].numel(),
        **_scores(rec, x, perceptual_fn),
    }


def jpeg_patches_at_bpp(
    crops: list[Tensor],
    target_bpp: float,
    patch_size: int = 32,
    perceptual_fn: PerceptualFn | None = None,
) -> dict:
    """JPEG-code whole photographs at the quality closest to ``target_bpp``, score patches.

    JPEG codes each photograph whole (a header alone would cost ~5 bpp on a 32x32 patch);
    original and decoded photographs are then cut into the same non-overlapping patches
    (:func:`ldm_teach.data.patchify`, the order of :func:`ldm_teach.data.photo_patches`),
    so the scores compare with an autoencoder's on those patches.

    Args:
        crops: photographs, a non-empty list of (3, r*P, c*P) float tensors in [-1, 1]
            (:func:`ldm_teach.data.photo_crops`).
        target_bpp: the rate to match, bits per pixel, > 0
            (:func:`ldm_teach.metrics.rate.jpeg_at_bpp` searches qualities 1 to 95).
        patch_size: side P of the patches, an int >= 11 dividing every crop's sides.
        perceptual_fn: as in :func:`roundtrip`.
    Returns:
        {"quality": the JPEG quality, "bpp": its rate, "matched": False if JPEG cannot
        reach ``target_bpp`` (the nearest end is used), "x": (N, 3, P, P) original
        patches, "rec": the decoded patches, "psnr_db", "ssim", "perceptual"}.
    Raises:
        ValueError: for an empty list, a non-positive target, a bad ``patch_size`` or
            crops whose sides it does not divide.
    """
    patch_size = check_int(patch_size, "patch_size", 11)
    _check_perceptual(perceptual_fn)
    jpeg = jpeg_at_bpp(crops, target_bpp)
    x = torch.cat([patchify(c, patch_size) for c in crops])  # (N, 3, P, P)
    rec = torch.cat([patchify(d, patch_size) for d in jpeg["decoded"]])  # (N, 3, P, P)
    with torch.no_grad():
        scores = _scores(rec, x, perceptual_fn)
    return {
        "quality": jpeg["quality"],
        "bpp": jpeg["bpp"],
        "matched": jpeg["matched"],
        "x": x,
        "rec": rec,
        **scores,
    }


def offset_share(rec: Tensor, x: Tensor) -> float:
    """Share of the squared error that is a shift of each image's mean colour.

    With e = rec - x split into its mean over pixels per image and channel (the offset
    m_bc) and the rest, MSE = mean(m_bc^2) + mean((e - m)^2) exactly; this returns
    mean(m_bc^2) / MSE. 1 means the reconstruction is x plus a constant per channel,
    0 that every image's mean colour is right.

    Args:
        rec, x: (B, C, H, W) float tensors of the same shape, B >= 1.
    Returns:
        A float in [0, 1]; 0.0 when rec equals x.
    Raises:
        ValueError: if the shapes differ or are not 4-D and non-empty.
    """
    if not (isinstance(rec, Tensor) and isinstance(x, Tensor)):
        raise ValueError("rec and x must be torch tensors")
    if rec.shape != x.shape or rec.ndim != 4 or rec.numel() == 0:
        raise ValueError(
            f"rec and x must be non-empty (B, C, H, W) tensors of one shape, got "
            f"{tuple(rec.shape)} and {tuple(x.shape)}"
        )
    e = (rec - x).double()
    mse = e.pow(2).mean()
    if mse == 0:
        return 0.0
    offset = e.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1): the mean-colour shift m_bc
    return float(offset.pow(2).mean() / mse)
