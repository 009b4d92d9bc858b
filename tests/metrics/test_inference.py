"""measure_inference (ldm_teach.metrics.inference) on the shipped shapes-t2i with tiny
settings: one row per setting, the baseline at ratio 1, exact settings unchanged."""

import pytest

from ldm_teach.metrics.inference import DEFAULT_SETTINGS, InferenceSetting, measure_inference
from ldm_teach.pretrained.text_registry import load_caption_judge, load_text_to_image

SETTINGS = (
    InferenceSetting("baseline", 2),
    InferenceSetting("2B + cache", 2, True, {"cache_context": True}),
    InferenceSetting("deep cache", 2, fast={"deep_cache_interval": 2}),
    InferenceSetting("broken", 2, fast={"attention": "flash"}),
)


@pytest.fixture(scope="module")
def parts():
    return load_text_to_image("shapes-t2i"), load_caption_judge("shapes-judge")


def test_rows_against_the_baseline(parts):
    rows = measure_inference(*parts, captions=4, repeats=2, settings=SETTINGS)
    assert [r["name"] for r in rows] == [s.name for s in SETTINGS]
    base, exact, deep, broken = rows
    assert base["speedup"] == 1.0 and base["delta_points"] == 0 and base["max_abs_diff"] == 0
    assert exact["max_abs_diff"] < 1e-5 and exact["changed"] == 0 and exact["speedup"] > 0
    assert 0 <= deep["accuracy"] <= 1 and deep["seconds"] > 0
    assert broken["error"].startswith("ValueError") and broken["speedup"] is None
    assert 0 <= base["accuracy_se"] <= 0.5


def test_default_settings_start_with_the_plain_baseline():
    base = DEFAULT_SETTINGS[0]
    assert (base.num_inference_steps, base.batch_guidance, base.fast) == (50, False, {})
    assert DEFAULT_SETTINGS[-1].name.startswith("9. best")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"captions": 0}, "captions"),
        ({"captions": 5, "repeats": 2}, "divisible by repeats"),
        ({"repeats": 0}, "repeats"),
        ({"settings": ()}, "settings"),
    ],
)
def test_bad_arguments(parts, kwargs, message):
    with pytest.raises(ValueError, match=message):
        measure_inference(*parts, **kwargs)
