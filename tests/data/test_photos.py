"""Tests for ldm_teach.data.photos: offline loading, disjoint splits, grid patches."""

import numpy as np
import pytest
import torch

from ldm_teach.data.photos import PHOTO_SPLITS, PhotoPatchDataset, load_photo, photo_patches


def test_splits_are_disjoint_and_test_has_two_photos():
    train, test = set(PHOTO_SPLITS["train"]), set(PHOTO_SPLITS["test"])
    assert set(PHOTO_SPLITS) == {"train", "test"}
    assert not train & test
    assert len(test) >= 2 and len(train) >= 2


@pytest.mark.parametrize("name", PHOTO_SPLITS["train"] + PHOTO_SPLITS["test"])
def test_every_photo_loads_offline_as_rgb_uint8(name):
    photo = load_photo(name)
    assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3
    assert min(photo.shape[:2]) >= 256
    assert photo.std() > 20  # a real picture, not a blank


def test_load_photo_returns_a_fresh_copy_and_rejects_unknown_names():
    a = load_photo("chelsea")
    a[:] = 0
    assert load_photo("chelsea").max() > 0
    with pytest.raises(ValueError, match="name"):
        load_photo("lena")


def test_patch_count_follows_the_grid():
    # chelsea is 300 x 451 and china 427 x 640; at scale 0.5 they are 150 x 226 and 214 x 320
    patches = photo_patches("test", patch_size=32, scale=0.5)
    assert patches.shape == ((4 * 7) + (6 * 10), 3, 32, 32)
    assert patches.dtype == torch.float32
    assert patches.min() >= -1.0 and patches.max() <= 1.0
    overlapping = photo_patches("test", patch_size=32, stride=16, scale=0.5)
    assert len(overlapping) == (8 * 13) + (12 * 19)


def test_first_patch_is_the_top_left_corner_of_the_first_photo():
    photo = load_photo(PHOTO_SPLITS["test"][0])
    patches = photo_patches("test", patch_size=16, scale=1.0)
    expected = torch.from_numpy(photo[:16, :16].astype(np.float32)).permute(2, 0, 1) / 127.5 - 1
    assert torch.allclose(patches[0], expected)
    second = torch.from_numpy(photo[:16, 16:32].astype(np.float32)).permute(2, 0, 1) / 127.5 - 1
    assert torch.allclose(patches[1], second)  # row-major order within a photo


def test_subsample_is_deterministic_and_a_subset():
    full = photo_patches("test", patch_size=32)
    a = photo_patches("test", patch_size=32, max_patches=10, seed=3)
    b = photo_patches("test", patch_size=32, max_patches=10, seed=3)
    c = photo_patches("test", patch_size=32, max_patches=10, seed=4)
    assert a.shape == (10, 3, 32, 32)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert all(any(torch.equal(p, q) for q in full) for p in a)
    assert torch.equal(photo_patches("test", max_patches=10_000), full)


def test_dataset_labels_name_the_source_photo():
    ds = PhotoPatchDataset("test", patch_size=32)
    assert torch.equal(ds.images, photo_patches("test", patch_size=32))
    assert ds.photo_names == PHOTO_SPLITS["test"]
    assert ds.labels.dtype == torch.int64
    assert torch.equal(torch.bincount(ds.labels), torch.tensor([28, 60]))
    image, label = ds[len(ds) - 1]
    assert image.shape == (3, 32, 32) and label.item() == 1


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"split": "val"}, "split"),
        ({"patch_size": 0}, "patch_size"),
        ({"stride": 0}, "stride"),
        ({"max_patches": 0}, "max_patches"),
        ({"scale": 1.5}, "scale"),
        ({"patch_size": 200}, "patch_size"),
    ],
)
def test_bad_arguments_raise(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        photo_patches(**{"split": "test", **kwargs})


@pytest.mark.parametrize("patch_size", [0, -2, 2.5, True])
def test_patchify_names_a_bad_patch_size(patch_size):
    # found by the third bad-input pass: patchify(img, 0) raised ZeroDivisionError
    from ldm_teach.data.photos import patchify

    with pytest.raises(ValueError, match="patch_size must be an int >= 1"):
        patchify(torch.zeros(3, 8, 8), patch_size)
