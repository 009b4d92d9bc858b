"""live_measure: a shipped model's samples measured now, next to its card."""

from __future__ import annotations

import pytest

from ldm_teach.metrics import measure_ldm_samples
from ldm_teach.models import LatentDiffusion
from ldm_teach.pretrained import live_measure, load_card, load_feature_net, load_latent_diffusion

NAME = "digits-cmp-f8"


@pytest.fixture(scope="module")
def feature_net():
    return load_feature_net("digits-features")


def test_live_measure_equals_measure_ldm_samples_on_the_loaded_model(feature_net):
    out = live_measure(NAME, 2, 2.0, per_class=2, seed=5, feature_net=feature_net)
    assert set(out) == {"model", "live", "card"}
    assert isinstance(out["model"], LatentDiffusion) and not out["model"].training
    assert out["card"] == load_card(NAME)["metrics"]
    direct = measure_ldm_samples(
        load_latent_diffusion(NAME), 2, 2.0, per_class=2, seed=5, feature_net=feature_net
    )
    for key in ("classifier_accuracy", "frechet_distance", "within_class_diversity"):
        assert out["live"][key] == direct[key]


def test_live_measure_loads_the_shipped_feature_net_by_default():
    out = live_measure(NAME, 1, 1.0, per_class=2)
    assert 0.0 <= out["live"]["classifier_accuracy"] <= 1.0
    assert out["live"]["frechet_distance"] >= 0.0


def test_live_measure_refuses_what_is_not_a_latent_diffusion_model(feature_net):
    with pytest.raises(ValueError, match="not a latent_diffusion"):
        live_measure("digits-kl-f4", feature_net=feature_net)
    with pytest.raises(ValueError, match=r"per_class must be an int in \[2, 200\]"):
        live_measure(NAME, per_class=1, feature_net=feature_net)
    with pytest.raises(TypeError, match="DigitsFeatureNet"):
        live_measure(NAME, per_class=2, feature_net="digits-features")
