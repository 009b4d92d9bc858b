"""Tiled VAE decoding: images larger than the decoder can hold at once (course Sec. 10.5.1).

A decoder's activations grow with the image: at f = 8, a 1024 x 1024 Stable Diffusion image
comes from a 128 x 128 latent and passes 128-channel feature maps of 1024 x 1024 pixels.
Decoding the latent in overlapping tiles bounds the largest activation by the tile's, at
the price of a seam wherever the tiles disagree (a convolution near a tile's edge sees zero
padding instead of the neighbour's latents, and a GroupNorm sees the statistics of its own
tile only). diffusers' ``AutoencoderKL.enable_tiling`` blends the overlaps linearly; so does
:func:`tiled_decode`:

    tiles       latent windows of side T (``tile_size``) every T - O (``overlap`` O) latents,
                the last one moved back to end at the border
    x_i         = D(z[window_i])                               (B, C, f T, f T) each
    w_i(y, x)   = r_i(y) r_i(x)                                separable weights
    x_hat       = Σ_i w_i x_i / Σ_i w_i                         on the full canvas

With ``blend=True`` the 1-D weight r_i rises linearly, (k + 1/2) / n for pixel k of an
overlap of n pixels, where tile i meets its predecessor, and falls as 1 - that where it
meets its successor, so two neighbours' weights sum to 1 in their overlap: a linear
cross-fade. With ``blend=False`` every pixel comes from one tile, the one whose centre is
nearest (for two neighbours: a cut at the middle of their overlap), which shows the seam
that blending hides.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ldm_teach.argcheck import check_bool, check_int


def tile_starts(size: int, tile_size: int, overlap: int) -> list[int]:
    """Start indices of the windows of side ``min(tile_size, size)`` covering [0, size).

    Windows start every ``tile_size - overlap``; the last one is moved back to end at
    ``size`` (so it may overlap its predecessor by more than ``overlap``). One window when
    ``size <= tile_size``.

    Raises:
        ValueError: if size or tile_size is not an int >= 1, or overlap not in
            [0, tile_size - 1].
    """
    size = check_int(size, "size", lo=1)
    tile_size, overlap = _check_tiling(tile_size, overlap)
    if size <= tile_size:
        return [0]
    starts = list(range(0, size - tile_size + 1, tile_size - overlap))
    if starts[-1] + tile_size < size:
        starts.append(size - tile_size)
    return starts


def _check_tiling(tile_size: int, overlap: int) -> tuple[int, int]:
    tile_size = check_int(tile_size, "tile_size", lo=1)
    overlap = check_int(overlap, "overlap", lo=0)
    if overlap >= tile_size:
        raise ValueError(f"overlap must be smaller than tile_size={tile_size}, got {overlap}")
    return tile_size, overlap


def _ramps(starts: list[int], tile: int, f: int, blend: bool) -> list[Tensor]:
    """The 1-D pixel weights r_i (f·tile,) of the windows at ``starts`` (latent units)."""
    if not blend:  # cut and paste: each pixel belongs to the window whose centre is nearest
        pixels = torch.arange(f * (starts[-1] + tile), dtype=torch.float64) + 0.5
        centres = torch.tensor([f * (s + tile / 2) for s in starts], dtype=torch.float64)
        inside = (pixels[:, None] >= f * torch.tensor(starts)) & (
            pixels[:, None] < f * (torch.tensor(starts) + tile)
        )  # (P, n_tiles)
        dist = (pixels[:, None] - centres).abs().masked_fill(~inside, float("inf"))
        owner = dist.argmin(dim=1)  # (P,), ties go to the earlier window
        return [(owner[f * s : f * (s + tile)] == i).double() for i, s in enumerate(starts)]
    weights = []
    for i, s in enumerate(starts):
        r = torch.ones(f * tile, dtype=torch.float64)
        for neighbour, rising in ((i - 1, True), (i + 1, False)):
            if not 0 <= neighbour < len(starts):
                continue
            n = f * (tile - abs(starts[neighbour] - s))  # overlap with the neighbour, pixels
            if n <= 0:
                continue
            up = (torch.arange(n, dtype=torch.float64) + 0.5) / n  # in (0, 1): never zero
            if rising:  # the overlap is at the window's start
                r[:n] = r[:n] * up
            else:  # at its end: the complement of the successor's rising ramp
                r[-n:] = r[-n:] * (1.0 - up)
        weights.append(r)
    return weights


@torch.no_grad()
def tiled_decode(
    autoencoder: nn.Module, z: Tensor, tile_size: int, overlap: int, blend: bool = True
) -> Tensor:
    """Decode latents tile by tile, blending the overlaps (module docstring).

    Args:
        autoencoder: anything with ``decode(z)`` and ``downsample_factor`` f (an
            :class:`~ldm_teach.autoencoders.AutoencoderKL`); its decode checks z.
        z: (B, c, h, w) latents as ``autoencoder.decode`` takes them (divide a diffusion
            model's latents by its ``scale_factor`` first), float.
        tile_size: T, side of a latent tile (int >= 1; a tile is min(T, h) x min(T, w)).
        overlap: O, latents shared by neighbouring tiles, in [0, T - 1].
        blend: linear cross-fade in the overlaps (True) or cut and paste at their middle.
    Returns:
        (B, C_img, f h, f w) in z's dtype, not clamped: exactly ``autoencoder.decode(z)``
        when z fits in one tile (h <= T and w <= T).
    Raises:
        ValueError: if z is not a 4-D tensor, tile_size is not an int >= 1, overlap is not
            an int in [0, tile_size - 1], or blend is not a bool (and as
            ``autoencoder.decode`` for a bad z).
    """
    tile_size, overlap = _check_tiling(tile_size, overlap)
    blend = check_bool(blend, "blend")
    if not isinstance(z, Tensor) or z.ndim != 4:
        raise ValueError(f"z must be a (B, c, h, w) tensor, got {z!r:.80}")
    h, w = z.shape[-2:]
    if h <= tile_size and w <= tile_size:
        return autoencoder.decode(z)
    f = autoencoder.downsample_factor
    th, tw = min(tile_size, h), min(tile_size, w)
    ys, xs = tile_starts(h, tile_size, overlap), tile_starts(w, tile_size, overlap)
    ry, rx = _ramps(ys, th, f, blend), _ramps(xs, tw, f, blend)
    out = weight = None
    for y0, wy in zip(ys, ry, strict=True):
        for x0, wx in zip(xs, rx, strict=True):
            x_i = autoencoder.decode(z[..., y0 : y0 + th, x0 : x0 + tw])  # (B, C, f th, f tw)
            if out is None:
                out = x_i.new_zeros((*x_i.shape[:2], f * h, f * w))
                weight = torch.zeros(f * h, f * w, dtype=torch.float64)
            w_i = wy[:, None] * wx[None, :]  # (f th, f tw)
            Y, X = slice(f * y0, f * (y0 + th)), slice(f * x0, f * (x0 + tw))
            out[..., Y, X] += w_i.to(out) * x_i
            weight[Y, X] += w_i
    return out / weight.to(out)


@torch.no_grad()
def largest_decode_activation(
    autoencoder: nn.Module, z: Tensor, tile_size: int | None = None, overlap: int = 0
) -> int:
    """Bytes of the largest tensor any submodule outputs while decoding z (whole or tiled).

    Method: a forward hook on every submodule records ``numel * element_size`` of its
    output; the maximum over the decode is returned. This counts, it does not sample the
    allocator (CPU PyTorch keeps no allocation statistics, and ``tracemalloc`` does not
    see its tensors): it is a lower bound of the decode's peak memory, which holds a layer's
    input and output (a ResNet block: also its skip) at once, i.e. a small multiple of it.
    The count is exact and the same on every machine, and it scales as the peak does: with
    the area of the decoded tile. The weights (fixed) are not counted.

    Args:
        autoencoder, z, overlap: as :func:`tiled_decode`.
        tile_size: None decodes z whole; an int decodes it with :func:`tiled_decode`.
    Returns:
        The size in bytes, an int (the canvas of the tiled result is not a module output
        and is not counted; it is the output image, needed either way).
    Raises:
        ValueError: as :func:`tiled_decode`.
    """
    largest = 0

    def hook(module, inputs, output):
        nonlocal largest
        if isinstance(output, Tensor):
            largest = max(largest, output.numel() * output.element_size())

    handles = [m.register_forward_hook(hook) for m in autoencoder.modules()]
    try:
        if tile_size is None:
            autoencoder.decode(z)
        else:
            tiled_decode(autoencoder, z, tile_size, overlap)
    finally:
        for handle in handles:
            handle.remove()
    return largest
