"""Patches of real photographs that ship inside scikit-image and scikit-learn.

Latent diffusion's first stage is an autoencoder trained on natural images (Rombach et al.
2022, arXiv:2112.10752, Sec. 3.1). The course trains its small autoencoders on patches cut
from a handful of colour photographs that the two libraries bundle in their wheels, so
nothing is downloaded:

* scikit-image (``skimage.data``): astronaut (Eileen Collins, NASA), coffee (CC0, Rachel
  Michetti), chelsea (the cat, CC0, Stefan van der Walt), rocket (SpaceX, public domain) and
  motorcycle (the left view of ``stereo_motorcycle``, Middlebury stereo data, Scharstein et
  al. 2014);
* scikit-learn (``sklearn.datasets.load_sample_image``): china.jpg and flower.jpg
  (CC BY 2.0, Flickr user danielbuechele and vultilion).

scikit-image ships more images (hubble_deep_field, immunohistochemistry, retina, ...) but
they are not everyday photographs; others (kidney, lily, skin) need a download and are
never used.

The train and test photographs are disjoint (``PHOTO_SPLITS``), so a test score measures
how an autoencoder does on pictures it never saw, not on neighbouring patches of the same
picture.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from ldm_teach.argcheck import check_int

# Which photographs are trained on and which are held out. Each is a natural RGB photo
# that loads with no network (checked by tests/data/test_photos.py).
PHOTO_SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("astronaut", "coffee", "rocket", "motorcycle", "flower"),
    "test": ("chelsea", "china"),
}
_SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle")  # skimage.data
_SKLEARN_PHOTOS = ("china", "flower")  # sklearn.datasets.load_sample_image("<name>.jpg")

Split = Literal["train", "test"]


@functools.lru_cache(maxsize=16)  # seven photos
def _load_photo_cached(name: str) -> np.ndarray:
    if name in _SKIMAGE_PHOTOS:
        import skimage.data  # imported here: the package is slow to import

        if name == "motorcycle":
            photo = skimage.data.stereo_motorcycle()[0]  # left view of (left, right, disparity)
        else:
            photo = getattr(skimage.data, name)()
    elif name in _SKLEARN_PHOTOS:
        from sklearn.datasets import load_sample_image

        photo = load_sample_image(f"{name}.jpg")
    else:
        known = sorted(_SKIMAGE_PHOTOS + _SKLEARN_PHOTOS)
        raise ValueError(f"name must be one of {known}, got {name!r}")
    photo = np.ascontiguousarray(photo, dtype=np.uint8)
    if photo.ndim != 3 or photo.shape[2] != 3:  # guards against a library changing a photo
        raise RuntimeError(f"photo {name!r} is not (H, W, 3) RGB: shape {photo.shape}")
    photo.setflags(write=False)
    return photo


def load_photo(name: str) -> np.ndarray:
    """Load one of the bundled photographs.

    Args:
        name: one of "astronaut", "coffee", "chelsea", "rocket", "motorcycle" (scikit-image)
            or "china", "flower" (scikit-learn).
    Returns:
        (H, W, 3) uint8 RGB array in [0, 255] (a fresh copy; safe to modify).
    Raises:
        ValueError: if name is not one of the photographs above.
    """
    return _load_photo_cached(name).copy()


def _photo_to_tensor(photo: np.ndarray, scale: float) -> Tensor:
    """(H, W, 3) uint8 -> (3, h, w) float32 in [-1, 1], resized by ``scale`` with Lanczos."""
    if scale != 1.0:
        H, W = photo.shape[:2]
        w, h = max(1, round(W * scale)), max(1, round(H * scale))
        photo = np.asarray(Image.fromarray(photo).resize((w, h), Image.Resampling.LANCZOS))
    x = torch.from_numpy(np.array(photo, dtype=np.float32))  # (h, w, 3) in [0, 255]
    return (x / 127.5 - 1.0).permute(2, 0, 1).contiguous()  # (3, h, w) in [-1, 1]


def _photo_patches_with_index(
    split: Split,
    patch_size: int,
    stride: int | None,
    max_patches: int | None,
    seed: int,
    scale: float,
) -> tuple[Tensor, Tensor]:
    """``photo_patches`` plus, for each patch, the index of its photo in PHOTO_SPLITS[split]."""
    if split not in PHOTO_SPLITS:
        raise ValueError(f"split must be one of {sorted(PHOTO_SPLITS)}, got {split!r}")
    if not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive int, got {patch_size!r}")
    stride = patch_size if stride is None else stride
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be a positive int or None, got {stride!r}")
    if max_patches is not None and (not isinstance(max_patches, int) or max_patches < 1):
        raise ValueError(f"max_patches must be a positive int or None, got {max_patches!r}")
    if not 0.0 < scale <= 1.0:
        raise ValueError(f"scale must be in (0, 1], got {scale}")

    patches, photo_index = [], []
    for i, name in enumerate(PHOTO_SPLITS[split]):
        x = _photo_to_tensor(_load_photo_cached(name), scale)  # (3, h, w)
        if min(x.shape[1:]) < patch_size:
            raise ValueError(
                f"patch_size must be at most {min(x.shape[1:])} for photo {name!r} at "
                f"scale={scale}, got {patch_size}"
            )
        # a regular grid of windows: unfold rows, then columns
        grid = x.unfold(1, patch_size, stride).unfold(2, patch_size, stride)  # (3, r, c, P, P)
        grid = grid.permute(1, 2, 0, 3, 4).reshape(-1, 3, patch_size, patch_size)  # (r*c, 3, P, P)
        patches.append(grid)
        photo_index.append(torch.full((len(grid),), i, dtype=torch.int64))
    images = torch.cat(patches).contiguous()  # (N, 3, P, P)
    labels = torch.cat(photo_index)  # (N,)

    if max_patches is not None and max_patches < len(images):
        generator = torch.Generator().manual_seed(seed)
        keep = torch.randperm(len(images), generator=generator)[:max_patches].sort().values
        images, labels = images[keep], labels[keep]
    return images, labels


def photo_patches(
    split: Split = "train",
    patch_size: int = 32,
    stride: int | None = None,
    max_patches: int | None = None,
    seed: int = 0,
    scale: float = 0.5,
) -> Tensor:
    """Cut the photographs of one split into square patches on a regular grid.

    Each photograph is first resized by ``scale`` with Pillow's Lanczos filter: at 0.5 a
    32x32 patch covers a 64x64 region of the original, so it holds an edge or a texture
    rather than a flat colour. Windows start at 0, stride, 2*stride, ... along each axis;
    pixels past the last full window are dropped. Patches come photo by photo, in row-major
    order within a photo.

    Args:
        split: "train" or "test" (see ``PHOTO_SPLITS``).
        patch_size: side P of each square patch, in pixels of the resized photo.
        stride: step between windows; None means patch_size (non-overlapping patches).
        max_patches: if given and smaller than the number of patches, keep this many,
            chosen uniformly without replacement with ``seed`` (kept in grid order).
        seed: seed of that subsample; the same seed gives the same patches.
        scale: resize factor in (0, 1] applied to each photograph before cutting.
    Returns:
        (N, 3, P, P) float32 RGB in [-1, 1] (pixel / 127.5 - 1).
    Raises:
        ValueError: for an unknown split, a non-positive patch_size, stride or max_patches,
            a scale outside (0, 1], or a patch larger than a resized photo.
    """
    images, _ = _photo_patches_with_index(split, patch_size, stride, max_patches, seed, scale)
    return images


def photo_crops(split: Split = "test", patch_size: int = 32, scale: float = 0.5) -> list[Tensor]:
    """The photographs of one split, resized by ``scale`` and cropped (top-left) to whole
    multiples of ``patch_size``: exactly the pixels that ``photo_patches(split, patch_size,
    scale=scale)`` (non-overlapping) covers. ``patchify(crop, patch_size)`` of each crop, in
    order, gives those patches back. Used by the JPEG baseline, which must code whole
    photographs (a JPEG header alone costs ~5 bits per pixel of a 32x32 patch).

    Returns:
        a list of (3, r*P, c*P) float32 tensors in [-1, 1], one per photograph.
    Raises:
        ValueError: as ``photo_patches``.
    """
    if split not in PHOTO_SPLITS:
        raise ValueError(f"split must be one of {sorted(PHOTO_SPLITS)}, got {split!r}")
    if not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive int, got {patch_size!r}")
    if not 0.0 < scale <= 1.0:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    crops = []
    for name in PHOTO_SPLITS[split]:
        x = _photo_to_tensor(_load_photo_cached(name), scale)
        r, c = x.shape[1] // patch_size, x.shape[2] // patch_size
        if r == 0 or c == 0:
            raise ValueError(
                f"patch_size must be at most {min(x.shape[1:])} for photo "
                f"{name!r} at scale={scale}, got {patch_size}"
            )
        crops.append(x[:, : r * patch_size, : c * patch_size].contiguous())
    return crops


def patchify(image: Tensor, patch_size: int) -> Tensor:
    """Cut a (C, r*P, c*P) image into its (r*c, C, P, P) non-overlapping patches, row-major
    (the order of ``photo_patches``).

    Raises:
        ValueError: if ``patch_size`` is not an int >= 1, the image is not a 3-D tensor or
            its sides are not multiples of patch_size.
    """
    check_int(patch_size, "patch_size", lo=1)
    if not isinstance(image, Tensor):
        raise ValueError(f"image must be a (C, H, W) torch.Tensor, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[1] % patch_size or image.shape[2] % patch_size:
        raise ValueError(
            f"image must be (C, H, W) with H and W multiples of {patch_size}, got "
            f"{tuple(image.shape)}"
        )
    grid = image.unfold(1, patch_size, patch_size).unfold(2, patch_size, patch_size)
    return grid.permute(1, 2, 0, 3, 4).reshape(-1, image.shape[0], patch_size, patch_size)


class PhotoPatchDataset(Dataset):
    """Patches of the bundled photographs, as a torch Dataset.

    ``__getitem__`` returns ``(image, label)`` where label is the index of the source photo in
    ``PHOTO_SPLITS[split]`` (e.g. 0 for "astronaut" in the train split). Autoencoders ignore
    it; it is there to colour embeddings by photograph in plots.

    Attributes:
        images: (N, 3, P, P) float32 in [-1, 1], from ``photo_patches`` with the same arguments.
        labels: (N,) int64 photo indices.
        photo_names: PHOTO_SPLITS[split], so photo_names[label] names the photograph.
    """

    def __init__(
        self,
        split: Split = "train",
        patch_size: int = 32,
        stride: int | None = None,
        max_patches: int | None = None,
        seed: int = 0,
        scale: float = 0.5,
    ) -> None:
        """Arguments and errors as in ``photo_patches``."""
        self.images, self.labels = _photo_patches_with_index(
            split, patch_size, stride, max_patches, seed, scale
        )
        self.split = split
        self.photo_names = PHOTO_SPLITS[split]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        """Returns (image (3, P, P) float32 in [-1, 1], photo index () int64)."""
        return self.images[index], self.labels[index]
