"""Tests for ldm_teach.data.digits: the fixed split, the two views and their round trip."""

import numpy as np
import pytest
import torch

from ldm_teach.data.digits import (
    DIGITS_SPLIT_SEED,
    DigitsDataset,
    digits_from_8x8,
    digits_split,
    digits_to_8x8,
    load_digits_8x8,
)


def test_split_is_fixed_disjoint_complete_and_stratified():
    train_idx, test_idx = digits_split()
    assert DIGITS_SPLIT_SEED == 0
    assert len(train_idx) == 1437 and len(test_idx) == 360  # 1797 digits, 20 % test
    assert np.intersect1d(train_idx, test_idx).size == 0
    assert np.array_equal(np.sort(np.concatenate([train_idx, test_idx])), np.arange(1797))
    assert np.array_equal(train_idx, np.sort(train_idx))
    again_train, again_test = digits_split()
    assert np.array_equal(train_idx, again_train) and np.array_equal(test_idx, again_test)
    _, y_all = load_digits_8x8("all")
    counts_all = np.bincount(y_all, minlength=10)
    counts_test = np.bincount(y_all[test_idx], minlength=10)
    # stratified: each class's share of the test split is within one digit of 20 %
    assert np.all(np.abs(counts_test - 0.2 * counts_all) <= 1)


def test_split_rejects_bad_fraction():
    with pytest.raises(ValueError, match="test_fraction"):
        digits_split(test_fraction=1.0)


def test_load_digits_8x8_dtypes_ranges_and_split_sizes():
    X, y = load_digits_8x8("train")
    assert X.shape == (1437, 64) and X.dtype == np.float64
    assert y.shape == (1437,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 16.0
    assert set(np.unique(y)) == set(range(10))
    X_test, _ = load_digits_8x8("test")
    X_all, _ = load_digits_8x8("all")
    assert X_test.shape == (360, 64) and X_all.shape == (1797, 64)
    train_idx, _ = digits_split()
    assert np.array_equal(X, X_all[train_idx])
    with pytest.raises(ValueError, match="split"):
        load_digits_8x8("val")


@pytest.mark.parametrize("size", [8, 32])
def test_dataset_shapes_dtypes_and_range(size):
    ds = DigitsDataset(split="test", size=size)
    assert ds.images.shape == (360, 1, size, size) and ds.images.dtype == torch.float32
    assert ds.labels.shape == (360,) and ds.labels.dtype == torch.int64
    assert ds.images.min().item() == -1.0 and ds.images.max().item() == 1.0
    assert len(ds) == 360
    image, label = ds[3]
    assert image.shape == (1, size, size) and label.dtype == torch.int64
    assert torch.equal(image, ds.images[3])


def test_size_8_is_the_linear_map_of_the_raw_digits():
    X, _ = load_digits_8x8("test")
    ds = DigitsDataset(split="test", size=8)
    expected = torch.as_tensor(X, dtype=torch.float32).view(-1, 1, 8, 8) / 8.0 - 1.0
    assert torch.allclose(ds.images, expected)


@pytest.mark.parametrize("size", [12, 0, 136, 32.0])
def test_dataset_rejects_bad_size(size):
    with pytest.raises(ValueError, match="size"):
        DigitsDataset(split="train", size=size)


def test_digits_to_8x8_inverts_pixel_replication_exactly():
    X, _ = load_digits_8x8("test")
    x8 = torch.as_tensor(X, dtype=torch.float32).view(-1, 1, 8, 8) / 8.0 - 1.0
    big = x8.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)  # (N, 1, 32, 32)
    assert np.allclose(digits_to_8x8(big), X, atol=1e-5)


def test_bicubic_round_trip_stays_close_to_the_original():
    X, _ = load_digits_8x8("test")
    back = digits_to_8x8(digits_from_8x8(X, size=32))
    assert back.shape == (360, 64) and back.dtype == np.float64
    err = np.abs(back - X)
    # bicubic blurs the strokes a little and the clamp trims its overshoot, so the round
    # trip is close but not exact: measured mean 0.73 and max 4.08 on the 0..16 scale
    assert err.mean() < 0.8
    assert err.max() < 4.5


def test_digits_to_8x8_clips_and_validates():
    out = digits_to_8x8(torch.full((2, 1, 16, 16), 3.0))
    assert np.all(out == 16.0)
    out = digits_to_8x8(torch.full((2, 1, 16, 16), -3.0))
    assert np.all(out == 0.0)
    with pytest.raises(ValueError, match="images"):
        digits_to_8x8(torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError, match="multiples of 8"):
        digits_to_8x8(torch.zeros(2, 1, 12, 12))


@pytest.mark.parametrize("value", [255.0, -5.0, float("nan")])
def test_digits_from_8x8_refuses_values_outside_0_16(value):
    # found by the third bad-input pass: 255 and -5 were clipped without a word
    import numpy as np

    from ldm_teach.data.digits import digits_from_8x8

    X = np.zeros((2, 64))
    X[0, 5] = value
    with pytest.raises(ValueError, match=r"X must hold pixel values in \[0, 16\]"):
        digits_from_8x8(X)
    assert digits_from_8x8(np.full((1, 64), 16.0)).max() == 1.0
