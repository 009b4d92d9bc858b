"""Rate: how many bits per pixel a latent costs, and JPEG at a matched rate as a baseline.

An autoencoder's latent is a tensor of floats, so its "rate" depends on how it is stored.
The course quantises each latent channel uniformly to 2^bits levels over its range
(as any codec must before storing) and reports two rates, in bits per pixel (bpp, per
*pixel position*, the image-compression convention, whatever the number of colour
channels):

    raw bpp     = bits * (c * h * w) / (H * W)
    entropy bpp = H_emp * (c * h * w) / (H * W),

where H_emp is the empirical first-order entropy (bits per symbol, averaged over
channels) of the quantised symbols: the rate an ideal entropy coder would reach if the
symbols were independent and their histogram were known. It is optimistic (the histogram
is measured on the very latents being coded) but comparable to JPEG, which is itself
entropy-coded (Huffman). Rate-distortion theory: Shannon 1959; for learned codecs see
Ballé et al. 2017 (arXiv:1611.01704), whose entropy model would replace H_emp here.

JPEG (Pillow, baseline 4:2:0 with the standard tables) is the "information compression"
baseline of the chapter's 10.1: it codes whole photographs (:func:`ldm_teach.data.photo_crops`),
because a JPEG header alone would cost ~5 bpp on a 32x32 patch.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ldm_teach.argcheck import check_int, is_int


def quantize_latent(z: Tensor, bits: int = 8) -> tuple[Tensor, Tensor]:
    """Uniform per-channel quantisation of latents to 2^bits levels over each channel's range.

    Args:
        z: latents (B, c, h, w), float.
        bits: bits per latent element, 1 to 16.
    Returns:
        (z_hat, symbols): the dequantised latents (same shape and dtype as z, the centre
        value of each level; exactly z's min and max are reproduced) and the symbols
        (B, c, h, w) int64 in [0, 2^bits - 1]. A constant channel maps to symbol 0 and is
        reproduced exactly.
    Raises:
        ValueError: if z is not 4-D or bits is outside [1, 16].
    """
    if not isinstance(z, Tensor) or z.ndim != 4 or z.shape[0] == 0:
        got = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
        raise ValueError(f"z must be a non-empty (B, c, h, w) tensor, got {got}")
    if not bool(torch.isfinite(z).all()):
        raise ValueError("z contains NaN or infinite values")
    if not is_int(bits) or not 1 <= bits <= 16:
        raise ValueError(f"bits must be an int in [1, 16], got {bits!r}")
    levels = 2**bits - 1
    lo = z.amin(dim=(0, 2, 3), keepdim=True)
    hi = z.amax(dim=(0, 2, 3), keepdim=True)
    step = (hi - lo) / levels
    safe = torch.where(step > 0, step, torch.ones_like(step))
    symbols = torch.round((z - lo) / safe).clamp(0, levels).to(torch.int64)
    z_hat = (lo + symbols.to(z.dtype) * step).to(z.dtype)
    return z_hat, symbols


def empirical_entropy_bits(symbols: Tensor) -> float:
    """First-order empirical entropy, in bits per symbol, averaged over channels.

    Args:
        symbols: (B, c, h, w) int64 symbols, e.g. from :func:`quantize_latent`.
    Returns:
        mean over channels of -sum_k p_k log2 p_k, with p the histogram of that channel
        over all B*h*w positions; 0.0 for constant channels.
    """
    if symbols.ndim != 4 or symbols.is_floating_point():
        raise ValueError(
            f"symbols must be an integer (B, c, h, w) tensor, got "
            f"{symbols.dtype} {tuple(symbols.shape)}"
        )
    ent = []
    for ch in range(symbols.shape[1]):
        counts = torch.bincount(symbols[:, ch].flatten()).double()
        p = counts[counts > 0] / counts.sum()
        ent.append(float(-(p * p.log2()).sum()))
    return float(np.mean(ent))


def latent_bits_per_pixel(z: Tensor, image_hw: tuple[int, int], bits: int = 8) -> dict:
    """Raw and entropy-coded rates of latents quantised to ``bits`` bits per element.

    Args:
        z: latents (B, c, h, w) of B images of size ``image_hw`` = (H, W).
        image_hw: the image's height and width in pixels.
        bits: quantisation bits per latent element.
    Returns:
        {"raw_bpp", "entropy_bpp", "entropy_bits_per_element", "elements_per_pixel"}.
    Raises:
        ValueError: as :func:`quantize_latent`, or if image_hw is not two positive ints.
    """
    if (
        not isinstance(image_hw, (tuple, list))
        or len(image_hw) != 2
        or not all(is_int(s) and s >= 1 for s in image_hw)
    ):
        raise ValueError(f"image_hw must be (H, W) with positive int sides, got {image_hw!r}")
    if (
        isinstance(z, Tensor)
        and z.ndim == 4
        and (image_hw[0] < z.shape[2] or image_hw[1] < z.shape[3])
    ):
        raise ValueError(
            f"image_hw {tuple(image_hw)} is smaller than the latent grid "
            f"{tuple(z.shape[2:])}: pass the size of the encoded images"
        )
    _, symbols = quantize_latent(z, bits)
    per_pixel = z[0].numel() / (image_hw[0] * image_hw[1])  # latent elements per pixel
    h = empirical_entropy_bits(symbols)
    return {
        "raw_bpp": bits * per_pixel,
        "entropy_bpp": h * per_pixel,
        "entropy_bits_per_element": h,
        "elements_per_pixel": per_pixel,
    }


def _to_pil(image: Tensor) -> Image.Image:
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"image must be (1 or 3, H, W), got {tuple(image.shape)}")
    x = image.detach().float()
    if not bool(torch.isfinite(x).all()):
        raise ValueError(
            "image must be finite, got NaN or inf values (they would become black pixels)"
        )
    if x.numel() and float(x.abs().max()) > 1.5:  # small overshoot is clamped, not [0, 255]
        raise ValueError(
            f"image must be in [-1, 1], got values in [{float(x.min()):g}, {float(x.max()):g}]"
        )
    arr = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    arr = arr.permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)


def jpeg_roundtrip(image: Tensor, quality: int) -> tuple[Tensor, int]:
    """Encode one image as JPEG with Pillow at ``quality`` and decode it again.

    Args:
        image: (C, H, W) float in [-1, 1], C = 1 (greyscale) or 3 (RGB).
        quality: Pillow JPEG quality, 1 (smallest) to 95.
    Returns:
        (decoded image, same shape, float32 in [-1, 1]; size of the JPEG file in bytes).
    Raises:
        ValueError: for a bad shape, non-finite values or values beyond [-1.5, 1.5] (not an
            image in [-1, 1]), or a quality outside [1, 95].
    """
    quality = check_int(quality, "quality", 1, 95)
    buf = io.BytesIO()
    _to_pil(image).save(buf, format="JPEG", quality=quality)
    size = buf.tell()
    buf.seek(0)
    arr = np.asarray(Image.open(buf).convert("L" if image.shape[0] == 1 else "RGB"))
    out = torch.from_numpy(arr.astype(np.float32) / 127.5 - 1.0)
    out = out[None] if out.ndim == 2 else out.permute(2, 0, 1)
    return out.contiguous(), size


def jpeg_bits_per_pixel(images: list[Tensor], quality: int) -> tuple[list[Tensor], float]:
    """JPEG-code every image at one quality; (decoded images, total bits / total pixels)."""
    if not isinstance(images, (list, tuple)) or not images:
        raise ValueError(
            "images must be a non-empty list of (C, H, W) tensors (e.g. "
            "photo_crops('test')), not a batch tensor"
        )
    decoded, bits, pixels = [], 0, 0
    for im in images:
        dec, size = jpeg_roundtrip(im, quality)
        decoded.append(dec)
        bits += 8 * size
        pixels += im.shape[1] * im.shape[2]
    return decoded, bits / pixels


def jpeg_at_bpp(images: list[Tensor], target_bpp: float) -> dict:
    """The JPEG quality whose rate on ``images`` is closest to ``target_bpp``.

    Searches qualities 1..95 in order (rate grows with quality). If even quality 1 costs
    more than the target, or quality 95 less, the nearest end is returned and
    ``"matched"`` is False, so a table can say that JPEG cannot reach that rate.

    Args:
        images: list of (C, H, W) float images in [-1, 1] (whole photographs).
        target_bpp: rate to match, > 0, in bits per pixel.
    Returns:
        {"quality", "bpp", "decoded" (list of tensors), "matched" (bool)}.
    Raises:
        ValueError: for an empty list or a non-positive target.
    """
    if not target_bpp > 0:
        raise ValueError(f"target_bpp must be positive, got {target_bpp}")
    if not isinstance(images, (list, tuple)) or not images:
        raise ValueError(
            "images must be a non-empty list of (C, H, W) tensors (e.g. "
            "photo_crops('test')), not a batch tensor"
        )
    best, lowest, bpp = None, None, 0.0
    for q in range(1, 96):
        decoded, bpp = jpeg_bits_per_pixel(images, q)
        lowest = bpp if lowest is None else lowest
        if best is None or abs(bpp - target_bpp) < abs(best["bpp"] - target_bpp):
            best = {"quality": q, "bpp": bpp, "decoded": decoded}
        if bpp > target_bpp:  # larger qualities only cost more
            break
    best["matched"] = lowest <= target_bpp <= bpp
    return best


@torch.no_grad()
def rate_distortion_point(
    autoencoder, images: Tensor, bits: int = 8, batch: int = 256, perceptual_fn=None
) -> dict:
    """One point of a rate-distortion curve for a KL autoencoder on ``images``.

    The latent is the posterior mode, quantised with :func:`quantize_latent` (``bits`` per
    element, ranges over the whole batch) and decoded; distortion is measured on that
    decoded image, so the rate and the distortion describe the same stored code.

    Args:
        autoencoder: an :class:`ldm_teach.autoencoders.AutoencoderKL` (eval mode).
        images: (N, C, H, W) float in [-1, 1].
        bits: bits per latent element.
        perceptual_fn: optional (x, x_hat) -> per-image distance (e.g. an
            :class:`ldm_teach.metrics.LPIPSMetric`); its mean is returned as "perceptual".
    Returns:
        {"f", "channels", "raw_bpp", "entropy_bpp", "psnr_db", "ssim", "psnr_db_float"
        (without latent quantisation), "perceptual" (None without perceptual_fn)},
        floats except the ints f and channels.
    """
    from ldm_teach.autoencoders.kl_vae import AutoencoderKL
    from ldm_teach.metrics.image import psnr, ssim

    if not isinstance(autoencoder, AutoencoderKL):
        raise TypeError(
            f"autoencoder must be an AutoencoderKL (a VQ model's rate is its "
            f"index bits, not a quantised float latent), got "
            f"{type(autoencoder).__name__}"
        )
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[0] == 0:
        raise ValueError("images must be a non-empty (N, C, H, W) tensor")
    if not is_int(batch) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    if perceptual_fn is not None and not callable(perceptual_fn):
        raise TypeError(
            f"perceptual_fn must be callable (x, x_hat) -> distances, got {perceptual_fn!r}"
        )
    autoencoder.eval()
    z = torch.cat(
        [autoencoder.encode(images[i : i + batch]).mode() for i in range(0, len(images), batch)]
    )
    z_hat, _ = quantize_latent(z, bits)

    def decode(latents: Tensor) -> Tensor:
        return torch.cat(
            [
                autoencoder.decode(latents[i : i + batch]).clamp(-1, 1)
                for i in range(0, len(latents), batch)
            ]
        )

    rec, rec_float = decode(z_hat), decode(z)
    rate = latent_bits_per_pixel(z, tuple(images.shape[-2:]), bits)
    return {
        "f": autoencoder.downsample_factor,
        "channels": z.shape[1],
        "raw_bpp": rate["raw_bpp"],
        "entropy_bpp": rate["entropy_bpp"],
        "psnr_db": float(psnr(rec, images).mean()),
        "ssim": float(ssim(rec, images).mean()),
        "psnr_db_float": float(psnr(rec_float, images).mean()),
        "perceptual": None if perceptual_fn is None else float(perceptual_fn(images, rec).mean()),
    }
