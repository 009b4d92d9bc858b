"""Tests for ldm_teach.metrics.classifier: the course's independent digits judge."""

import pytest
import torch

from ldm_teach.data.digits import DigitsDataset
from ldm_teach.metrics.classifier import DigitsClassifier


@pytest.fixture(scope="module")
def classifier():
    return DigitsClassifier.fit_default()


def test_fit_default_is_cached(classifier):
    assert DigitsClassifier.fit_default() is classifier


def test_accuracy_on_real_test_digits(classifier):
    assert classifier.test_accuracy() >= 0.97
    assert classifier.test_accuracy() == pytest.approx(356 / 360)  # pinned: 4 errors


def test_accuracy_on_upsampled_test_digits(classifier):
    ds = DigitsDataset(split="test", size=32)
    assert classifier.accuracy(ds.images, ds.labels) >= 0.95


def test_predict_and_predict_proba_agree(classifier):
    ds = DigitsDataset(split="test", size=16)
    images = ds.images[:50]
    proba = classifier.predict_proba(images)
    predicted = classifier.predict(images)
    assert proba.shape == (50, 10) and proba.dtype == torch.float32
    assert torch.allclose(proba.sum(1), torch.ones(50), atol=1e-5)
    assert predicted.shape == (50,) and predicted.dtype == torch.int64
    assert torch.equal(proba.argmax(1), predicted)


def test_accuracy_validates_labels(classifier):
    images = DigitsDataset(split="test", size=8).images[:4]
    with pytest.raises(ValueError, match="labels"):
        classifier.accuracy(images, torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="images"):
        classifier.predict(torch.zeros(4, 3, 8, 8))


@pytest.mark.parametrize(
    "labels",
    [
        torch.tensor([0.2, 1.7, 2.9]),
        torch.tensor([0, 1, 10]),
        torch.tensor([-1, 0, 1]),
        torch.tensor([True, False, True]),
    ],
)
def test_accuracy_refuses_labels_that_could_never_match(labels):
    images = DigitsDataset("test").images[:3]
    with pytest.raises(ValueError, match="labels must be"):
        DigitsClassifier.fit_default().accuracy(images, labels)


@pytest.mark.parametrize(
    "images,message",
    [
        (torch.full((2, 1, 32, 32), float("nan")), "finite"),
        (torch.zeros(0, 1, 32, 32), "empty batch"),
        (torch.full((2, 1, 32, 32), 255.0), r"\[0, 255\]"),
    ],
)
def test_classifier_names_images_it_cannot_score(images, message):
    # found by the third bad-input pass: scikit-learn's "Input X contains NaN", and
    # [0, 255] images silently clipped to white
    from ldm_teach.data.digits import digits_to_8x8

    with pytest.raises(ValueError, match=message):
        digits_to_8x8(images)
