"""The prompt playground draws a sample and one map per word, and reports bad prompts."""

import pytest

from ldm_teach.viz.playground import PromptPlayground


def test_static_figure_has_the_sample_and_one_panel_per_word(model):
    play = PromptPlayground(model, "a red circle", num_inference_steps=2)
    fig = play.static()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["sample", "a", "red", "circle"]
    assert play.render("a blue square", 1.0, 2)[:8] == b"\x89PNG\r\n\x1a\n"


def test_widget_generates_and_reports_unknown_words(model):
    pytest.importorskip("ipywidgets")
    play = PromptPlayground(model, "a red circle", num_inference_steps=2)
    box = play.widget()
    text, controls, image, message = box.children
    first = image.value
    text.value = "a large blue square"
    controls.children[2].click()
    assert image.value != first and message.value == ""
    text.value = "a purple circle"
    controls.children[2].click()
    assert "unknown word 'purple'" in message.value
