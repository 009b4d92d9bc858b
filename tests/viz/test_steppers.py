"""Steppers: frames render, widgets redraw when the slider moves, static fallbacks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import io  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ldm_teach.diffusion import NoiseSchedule, ScheduleConfig, ddim_sample  # noqa: E402
from ldm_teach.viz import steppers  # noqa: E402
from ldm_teach.viz.steppers import (  # noqa: E402
    ForwardStepper,
    ReverseStepper,
    show,
    widgets_available,
)

SCHEDULE = NoiseSchedule(ScheduleConfig(num_train_timesteps=100))


def decode(z):
    return torch.tanh(z[:, :1])


def _forward():
    z0 = torch.randn(2, 4, 4, generator=torch.Generator().manual_seed(0))
    return ForwardStepper(z0, SCHEDULE, decode, timesteps=[0, 50, 99])


def test_forward_stepper_frames_differ_and_noise_is_fixed():
    st = _forward()
    assert st.frames() == [0, 50, 99]
    a, b = st.render(0), st.render(99)
    assert a[:8] == b"\x89PNG\r\n\x1a\n" and a != b
    assert st.render(50) == st.render(50)  # deterministic
    assert torch.equal(st.z_t(50), st.z_t(50))
    with pytest.raises(ValueError, match=r"t must be one of the stepper.s frames \[0, 50, 99\]"):
        st.render(7)
    with pytest.raises(ValueError, match="timesteps"):
        ForwardStepper(torch.zeros(2, 4, 4), SCHEDULE, decode, timesteps=[100])
    with pytest.raises(ValueError, match=r"\(C, h, w\)"):
        ForwardStepper(torch.zeros(1, 2, 4, 4), SCHEDULE, decode)


def test_widget_redraws_when_the_slider_moves():
    box = _forward().widget()
    slider, image = box.children
    before = image.value
    slider.value = 99
    assert image.value != before
    assert "ldm-teach-stepper" in box._dom_classes


def test_reverse_stepper_on_a_real_trajectory():
    def model_fn(x, t):
        return torch.zeros_like(x)

    _, traj = ddim_sample(
        model_fn,
        (2, 2, 4, 4),
        SCHEDULE,
        num_inference_steps=5,
        generator=torch.Generator().manual_seed(0),
        progress=False,
        return_trajectory=True,
    )
    st = ReverseStepper(traj, decode, index=1)
    assert st.frames() == list(range(5))
    assert st.render(0) != st.render(4)
    fig = st.static()
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 4
    with pytest.raises(ValueError, match="index"):
        ReverseStepper(traj, decode, index=2)
    with pytest.raises(ValueError, match="empty"):
        ReverseStepper([], decode)


def test_forward_stepper_titles_the_effective_snr_in_db():
    st = _forward()
    fig = st.figure(50)
    rms2 = float(st.z0.double().pow(2).mean())
    ac = float(SCHEDULE.alphas_cumprod[50])
    expected = 10 * np.log10(rms2 * ac / (1 - ac))
    assert f"SNR_eff {expected:+.1f} dB" in fig.axes[0].get_title()


def test_frames_are_palette_pngs_at_100_dpi():
    from PIL import Image

    img = Image.open(io.BytesIO(_forward().render(0)))
    assert img.mode == "P" and img.size == (int(2 * 2.7 * 100), int(2.5 * 100))


def test_show_falls_back_to_a_static_figure(monkeypatch):
    assert widgets_available() is False  # no kernel under pytest
    fig = show(_forward())
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 3
    monkeypatch.setenv(steppers.STATIC_ENV, "1")
    assert widgets_available() is False
    with pytest.raises(ValueError, match="mode"):
        show(_forward(), mode="inline")


def test_steppers_refuse_malformed_inputs():
    with pytest.raises(ValueError, match="'t', 'x_t' and 'pred_x0'"):
        ReverseStepper([{"t": 1}], decode)
    with pytest.raises(TypeError, match="decode must be callable"):
        ForwardStepper(torch.zeros(2, 4, 4), SCHEDULE, None)
    with pytest.raises(ValueError, match="list of ints"):
        ForwardStepper(torch.zeros(2, 4, 4), SCHEDULE, decode, timesteps=[1.5])
    with pytest.raises(TypeError, match="stepper must be"):
        show(None)
