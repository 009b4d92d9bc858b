"""diagnose_with_samples: diagnose's statistics and the samples' quality in one report."""

from __future__ import annotations

import pytest
import torch

from ldm_teach.data import DigitsDataset
from ldm_teach.metrics import diagnose_with_samples, measure_ldm_samples
from ldm_teach.models import diagnose
from ldm_teach.pretrained import load_feature_net, load_latent_diffusion


@pytest.fixture(scope="module")
def setup():
    test = DigitsDataset("test")
    model = load_latent_diffusion("digits-cmp-f8")
    return model, test.images[:8], test.labels[:8], load_feature_net("digits-features")


def test_the_report_is_diagnose_plus_the_sample_metrics(setup):
    model, images, labels, net = setup
    report = diagnose_with_samples(
        model, images, labels, feature_net=net, num_buckets=3, num_inference_steps=2, per_class=2
    )
    alone = diagnose(
        model, images, labels, num_buckets=3, generator=torch.Generator().manual_seed(0)
    )
    assert report["eps_mse"] == alone["eps_mse"] and report["latent_std"] == alone["latent_std"]
    assert torch.equal(report["sample"], alone["sample"])
    samples = measure_ldm_samples(model, 2, 2.0, per_class=2, feature_net=net)
    for key in ("classifier_accuracy", "frechet_distance", "within_class_diversity"):
        assert report["sample_metrics"][key] == samples[key]


def test_bad_arguments_fail_before_the_work(setup):
    model, images, labels, net = setup
    with pytest.raises(TypeError, match="DigitsFeatureNet"):
        diagnose_with_samples(model, images, labels, feature_net=None)
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        diagnose_with_samples(model, images, labels, feature_net=net, seed=-1)
    with pytest.raises(ValueError, match="num_buckets"):
        diagnose_with_samples(model, images, labels, feature_net=net, num_buckets=0)
