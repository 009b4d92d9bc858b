"""Handwritten digits from scikit-learn, upsampled for diffusion models.

The data are the 1,797 8x8 digits that scikit-learn ships (``sklearn.datasets.load_digits``),
a copy of the test part of the UCI "Optical Recognition of Handwritten Digits" set
(Alpaydin & Kaynak 1998). Each pixel counts how many of 16 sub-pixels were inked, so values
are integers in [0, 16]. They load offline, in a few milliseconds, which is why the course
uses them where the papers use MNIST or ImageNet.

Two views of the same images:

* the 8x8 view, ``(N, 64)`` float64 in [0, 16], which is what scikit-learn models (and the
  course classifier in ``ldm_teach.metrics.classifier``) read;
* the image view, ``(N, 1, size, size)`` float32 in [-1, 1], which is what autoencoders and
  diffusion models read, as in DDPM (Ho et al. 2020, arXiv:2006.11239, Sec. 3.3: "image
  data ... scaled linearly to [-1, 1]").

``digits_to_8x8`` maps the image view back to the 8x8 view, so that generated digits can be
scored by the classifier.
"""

from __future__ import annotations

import functools
import warnings
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import Tensor
from torch.utils.data import Dataset

DIGITS_SPLIT_SEED = 0  # random_state of the one fixed train/test split used across the course
DIGITS_MAX = 16.0  # largest pixel value of the 8x8 digits (16 inked sub-pixels)

Split = Literal["train", "test", "all"]


@functools.lru_cache(maxsize=1)
def _load_all() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits once per process: X (N, 64) float64 in [0, 16], y (N,) int64."""
    bunch = load_digits()
    X = np.asarray(bunch.data, dtype=np.float64)  # (1797, 64)
    y = np.asarray(bunch.target, dtype=np.int64)  # (1797,)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def digits_split(
    test_fraction: float = 0.2, seed: int = DIGITS_SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed, stratified train/test split of ``sklearn.datasets.load_digits``.

    Args:
        test_fraction: share of the digits put in the test split, in (0, 1).
        seed: ``random_state`` of ``sklearn.model_selection.train_test_split``.
    Returns:
        (train_idx, test_idx): sorted int64 index arrays into the 1,797 digits; disjoint,
        together they cover every digit, and each class keeps its share in both.
    Raises:
        ValueError: if test_fraction is not in (0, 1).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    _, y = _load_all()
    train_idx, test_idx = train_test_split(
        np.arange(len(y)), test_size=test_fraction, stratify=y, random_state=seed
    )
    return np.sort(train_idx).astype(np.int64), np.sort(test_idx).astype(np.int64)


def load_digits_8x8(split: Split = "train") -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits of one split, in scikit-learn's layout.

    Args:
        split: "train" (80 %), "test" (20 %) or "all", from ``digits_split()`` with its
            defaults.
    Returns:
        X: (N, 64) float64 in [0, 16], rows are the 8x8 images read row by row.
        y: (N,) int64 class labels in [0, 9].
    Raises:
        ValueError: if split is not one of "train", "test", "all".
    """
    X, y = _load_all()
    if split == "all":
        return X.copy(), y.copy()
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    train_idx, test_idx = digits_split()
    idx = train_idx if split == "train" else test_idx
    return X[idx], y[idx]  # fancy indexing copies


def _check_size(size: int) -> None:
    if not isinstance(size, int) or size % 8 != 0 or not 8 <= size <= 128:
        raise ValueError(f"size must be a multiple of 8 in [8, 128], got {size!r}")


def digits_from_8x8(X: np.ndarray, size: int = 32) -> Tensor:
    """Turn 8x8 digits into images in [-1, 1] of side ``size``.

    Step 1 maps [0, 16] linearly to [-1, 1]; step 2 upsamples with bicubic interpolation
    (``F.interpolate(mode="bicubic", antialias=True)``); step 3 clamps, because bicubic
    overshoots a little at the strokes' edges.

    Args:
        X: (N, 64) pixel values in [0, 16].
        size: output side, a multiple of 8 in [8, 128].
    Returns:
        (N, 1, size, size) float32 in [-1, 1].
    Raises:
        ValueError: if X is not (N, 64) real values in [0, 16] (NaN included), or size is
            not allowed.
    """
    _check_size(size)
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 64:
        raise ValueError(f"X must have shape (N, 64), got {X.shape}")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"X must hold real numbers, got dtype {X.dtype}")
    if X.size and not (np.isfinite(X).all() and X.min() >= 0 and X.max() <= DIGITS_MAX):
        raise ValueError(
            f"X must hold pixel values in [0, {DIGITS_MAX:g}] (scikit-learn's "
            f"digits), got values in [{X.min()}, {X.max()}]"
        )
    x = torch.as_tensor(X, dtype=torch.float32).view(-1, 1, 8, 8)  # (N, 1, 8, 8)
    x = x / DIGITS_MAX * 2.0 - 1.0  # 1. [0, 16] -> [-1, 1]
    if size != 8:  # 2. bicubic upsampling
        x = F.interpolate(
            x, size=(size, size), mode="bicubic", antialias=True, align_corners=False
        )  # (N, 1, size, size)
    return x.clamp(-1.0, 1.0).contiguous()  # 3. undo bicubic overshoot


#: Values beyond this magnitude cannot be a sampler's overshoot of [-1, 1]; they are images
#: in another range (most often [0, 255]), refused by :func:`digits_to_8x8`.
MAX_ABS_DIGIT = 100.0


def warn_if_unit_range(name: str, images: Tensor, stacklevel: int = 3) -> None:
    """Warn when every value of ``images`` lies in [0, 1]: the course's images are in
    [-1, 1] (a digit's background is -1), so such a batch is almost surely [0, 1] images,
    whose scores would be plausible and wrong (an SVC accuracy of 38% instead of 99%, a
    PSNR of 15 dB instead of 37). Call it once per image set: converting only the samples
    is the usual mistake. A warning, not an error: a model can produce such a batch.
    """
    if isinstance(images, Tensor) and images.numel() and float(images.detach().min()) >= 0.0:
        warnings.warn(
            f"every value of {name} lies in [0, 1], but the course's images are in [-1, 1] "
            "(a digit's background is -1): if these are [0, 1] images, pass x * 2 - 1 "
            "(without it the score is wrong)",
            UserWarning,
            stacklevel=stacklevel,
        )


def digits_to_8x8(images: Tensor) -> np.ndarray:
    """Map digit images back to scikit-learn's 8x8 view, to score generated digits.

    Step 1 area-pools each image to 8x8 (the mean of each (H/8) x (W/8) block); step 2 maps
    [-1, 1] linearly to [0, 16] and clips to that range. Values of ``images`` outside [-1, 1]
    (a sampler may overshoot) are therefore allowed and end up clipped.

    Args:
        images: (N, 1, H, W) float tensor, nominally in [-1, 1]; H and W multiples of 8.
    Returns:
        (N, 64) float64 array in [0, 16], rows read row by row like ``load_digits().data``.
    Raises:
        ValueError: if images is not a non-empty (N, 1, H, W) tensor with H and W multiples
            of 8, holds NaN or inf, or values beyond :data:`MAX_ABS_DIGIT` in magnitude.
    Warns:
        UserWarning: if every value lies in [0, 1] (:func:`warn_if_unit_range`).
    """
    if not isinstance(images, Tensor):
        raise ValueError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must have shape (N, 1, H, W), got {tuple(images.shape)}")
    H, W = images.shape[-2:]
    if H % 8 != 0 or W % 8 != 0:
        raise ValueError(f"images height and width must be multiples of 8, got {H}x{W}")
    if images.shape[0] == 0:
        raise ValueError("images must hold at least one image (N >= 1), got an empty batch")
    x = images.detach().to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("images must be finite, got NaN or inf values")
    peak = float(x.abs().max())
    if peak > MAX_ABS_DIGIT:  # an overshooting sampler, yes; images in [0, 255], no
        raise ValueError(
            f"images must be nominally in [-1, 1], got values up to {peak:g} in "
            "magnitude; images in [0, 255] become x / 127.5 - 1"
        )
    warn_if_unit_range("images", images, stacklevel=4)
    x = F.adaptive_avg_pool2d(x, (8, 8))  # 1. (N, 1, 8, 8), exact block means
    x = ((x + 1.0) / 2.0 * DIGITS_MAX).clamp(0.0, DIGITS_MAX)  # 2. [-1, 1] -> [0, 16]
    return x.reshape(-1, 64).numpy()  # (N, 64)


class DigitsDataset(Dataset):
    """The scikit-learn digits as (1, size, size) images in [-1, 1], with their labels.

    Attributes:
        images: (N, 1, size, size) float32 in [-1, 1], built once by ``digits_from_8x8``.
        labels: (N,) int64 class labels in [0, 9].
        size: side of each image in pixels.
    """

    def __init__(self, split: Split = "train", size: int = 32) -> None:
        """Args:
            split: "train", "test" or "all" (see ``load_digits_8x8``).
            size: image side, a multiple of 8 in [8, 128]; 32 by default.
        Raises:
            ValueError: for an unknown split or a size that is not allowed.
        """
        _check_size(size)
        X, y = load_digits_8x8(split)
        self.split = split
        self.size = size
        self.images = digits_from_8x8(X, size)  # (N, 1, size, size)
        self.labels = torch.as_tensor(y, dtype=torch.int64)  # (N,)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        """Returns (image (1, size, size) float32 in [-1, 1], label () int64)."""
        return self.images[index], self.labels[index]
