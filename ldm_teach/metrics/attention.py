"""Are the cross-attention maps where the words are? Measured against ground truth.

For a generated shapes image the truth is known twice over: the caption names the 3 x 3
grid cell of the shape, and the image itself shows its pixels (the background is black).
Two scores for a word's heat map D (H, W) in [0, 1] (DAAM, Tang et al. 2022,
arXiv:2210.04885, Sec. 4 uses the same two kinds):

    pointing hit = argmax D lies in the shape's grid cell             (the pointing game of
                                                                        Zhang et al. 2016)
    IoU          = |{D >= τ} ∩ M| / |{D >= τ} ∪ M|,  M = the shape's pixels, τ = 0.4 (DAAM)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ldm_teach.argcheck import check_real
from ldm_teach.data.shapes import POSITIONS

__all__ = [
    "DAAM_THRESHOLD",
    "foreground_masks",
    "map_iou",
    "mask_positions",
    "pointing_hits",
    "position_cell",
]

DAAM_THRESHOLD = 0.4  # τ of DAAM's binarised maps


def position_cell(position: str, height: int, width: int) -> tuple[slice, slice]:
    """The (rows, cols) slices of a position's cell in the 3 x 3 grid of an H x W image.

    Raises:
        ValueError: for an unknown position name.
    """
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {list(POSITIONS)}, got {position!r}")
    cx, cy = POSITIONS[position]
    col, row = int(cx * 3), int(cy * 3)  # 1/6 -> 0, 1/2 -> 1, 5/6 -> 2
    return (
        slice(row * height // 3, (row + 1) * height // 3),
        slice(col * width // 3, (col + 1) * width // 3),
    )


def _check_maps(maps: Tensor) -> None:
    if not isinstance(maps, Tensor) or maps.ndim != 3 or not bool(torch.isfinite(maps).all()):
        raise ValueError(
            f"maps must be a finite (N, H, W) tensor, got {getattr(maps, 'shape', maps)}"
        )


def pointing_hits(maps: Tensor, positions: Sequence[str | None]) -> Tensor:
    """(N,) bool: whether each map's peak lies in the grid cell of its position.

    Args:
        maps: (N, H, W) float heat maps (any scale).
        positions: N POSITIONS names (a caption's, or :func:`mask_positions` of the
            generated shapes); None counts as a miss (no shape drawn).
    Raises:
        ValueError: on a bad maps tensor or a count mismatch.
    """
    _check_maps(maps)
    if len(positions) != maps.shape[0]:
        raise ValueError(f"need one position per map, got {len(positions)} for {maps.shape[0]}")
    N, H, W = maps.shape
    peak = maps.flatten(1).argmax(1)  # (N,)
    rows, cols = (peak // W).tolist(), (peak % W).tolist()
    hits = []
    for r, c, p in zip(rows, cols, positions, strict=True):
        if p is None:
            hits.append(False)
            continue
        rs, cs = position_cell(p, H, W)
        hits.append(rs.start <= r < rs.stop and cs.start <= c < cs.stop)
    return torch.tensor(hits)


def foreground_masks(images: Tensor, threshold: float = 0.0) -> Tensor:
    """(N, H, W) bool: pixels whose brightest channel exceeds ``threshold`` (images in
    [-1, 1] on a black background: 0.0 is mid-grey; every shapes colour is brighter)."""
    if not isinstance(images, Tensor) or images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got {getattr(images, 'shape', images)}")
    return images.amax(dim=1) > check_real(threshold, "threshold", lo=-1.0, hi=1.0)


def map_iou(maps: Tensor, masks: Tensor, threshold: float = DAAM_THRESHOLD) -> Tensor:
    """(N,) IoU of each map, binarised at ``threshold`` times its maximum, with its mask.

    Args:
        maps: (N, H, W) heat maps, >= 0.
        masks: (N, H, W) bool ground truth.
        threshold: τ in (0, 1].
    Returns:
        (N,) float in [0, 1]; 0 where both the binarised map and the mask are empty.
    Raises:
        ValueError: on shapes that differ or τ out of range.
    """
    _check_maps(maps)
    tau = check_real(threshold, "threshold", lo=0.0, hi=1.0, lo_open=True)
    if masks.shape != maps.shape or masks.dtype != torch.bool:
        raise ValueError(f"masks must be bool of the maps' shape {tuple(maps.shape)}")
    peak = maps.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
    binary = maps >= tau * peak
    inter = (binary & masks).flatten(1).sum(1).float()
    union = (binary | masks).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.zeros_like(union))


def mask_positions(masks: Tensor) -> list[str | None]:
    """The grid position (a POSITIONS name) of each mask's centroid; None for an empty mask.

    Args:
        masks: (N, H, W) bool.
    """
    if not isinstance(masks, Tensor) or masks.ndim != 3 or masks.dtype != torch.bool:
        raise ValueError("masks must be an (N, H, W) bool tensor")
    N, H, W = masks.shape
    names = {(int(cx * 3), int(cy * 3)): name for name, (cx, cy) in POSITIONS.items()}
    rows = torch.arange(H, dtype=torch.float32)[:, None].expand(H, W)
    cols = torch.arange(W, dtype=torch.float32)[None, :].expand(H, W)
    out: list[str | None] = []
    for m in masks:
        n = m.sum()
        if n == 0:
            out.append(None)
            continue
        r, c = float((rows * m).sum() / n), float((cols * m).sum() / n)
        out.append(names[(min(2, int(3 * c / W)), min(2, int(3 * r / H)))])
    return out
