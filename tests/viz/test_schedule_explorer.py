"""The schedule explorer: ᾱ, β (log axis) and the effective SNR in dB of named schedules."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ldm_teach.diffusion import (  # noqa: E402
    NoiseSchedule,
    ScheduleConfig,
    effective_snr_db,
    shifted_schedule,
)
from ldm_teach.viz.schedule_explorer import ScheduleExplorer  # noqa: E402

LINEAR = NoiseSchedule(ScheduleConfig(num_train_timesteps=100))
COSINE = NoiseSchedule(ScheduleConfig(num_train_timesteps=100, beta_schedule="cosine"))


def test_three_panels_alpha_bar_beta_and_snr_in_db():
    ex = ScheduleExplorer({"linear": LINEAR, "cosine": COSINE})
    fig = ex.figure("linear", 10)
    a_bar, beta, snr = fig.axes
    assert beta.get_yscale() == "log" and a_bar.get_yscale() == "linear"
    assert "dB" in snr.get_title() and "beta" in beta.get_title()
    # the lines are the schedules' own curves; the marker sits at t on the chosen one
    assert np.allclose(beta.get_lines()[0].get_ydata(), LINEAR.betas.numpy())
    db = effective_snr_db(LINEAR, torch.arange(100)).numpy()
    assert np.allclose(snr.get_lines()[0].get_ydata(), db)
    marker = snr.get_lines()[-1]
    assert list(marker.get_xdata()) == [10] and math.isclose(marker.get_ydata()[0], db[10])
    assert "t = 10" in fig._suptitle.get_text() and "dB" in fig._suptitle.get_text()


def test_data_std_shifts_the_snr_curve_by_20_log10_sigma():
    sigma = 2.25
    shifted = shifted_schedule(LINEAR, 1 / sigma**2)
    ex = ScheduleExplorer({"target": LINEAR, "shift": shifted}, data_std={"shift": sigma})
    target, shift = (ex.curves[k]["snr_db"] for k in ("target", "shift"))
    assert np.abs(shift - target).max() < 1e-6  # the shift undoes the data's σ²
    assert ex.data_std == {"target": 1.0, "shift": sigma}
    legend = [t.get_text() for t in ex.figure("shift", 0).legends[0].get_texts()]
    assert legend == ["target", "shift (data std 2.25)"]
    everyone = ScheduleExplorer({"a": LINEAR}, data_std=2.0)
    base = effective_snr_db(LINEAR, torch.arange(100)).numpy()
    assert np.allclose(everyone.curves["a"]["snr_db"] - base, 20 * math.log10(2.0))


def test_widget_redraws_and_static_falls_back():
    ex = ScheduleExplorer({"linear": LINEAR, "cosine": COSINE})
    assert ex.render("linear", 10) != ex.render("cosine", 10)
    box = ex.widget()
    (dropdown, slider), image = box.children[0].children, box.children[1]
    before = image.value
    dropdown.value = "cosine"
    assert image.value != before
    slider.value = 90
    assert image.value != before
    assert len(ex.static().axes) == 3


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="name must be one of"):
        ScheduleExplorer({"linear": LINEAR}).render("sigmoid", 0)
    with pytest.raises(ValueError, match=r"t must be an int in \[0, 99\]"):
        ScheduleExplorer({"linear": LINEAR}).figure("linear", 100)
    with pytest.raises(ValueError, match="same number of steps"):
        short = NoiseSchedule(ScheduleConfig(num_train_timesteps=50))
        ScheduleExplorer({"a": LINEAR, "b": short})
    with pytest.raises(ValueError, match="must be a NoiseSchedule"):
        ScheduleExplorer({"a": "linear"})
    with pytest.raises(ValueError, match="non-empty dict"):
        ScheduleExplorer({})
    with pytest.raises(ValueError, match="schedules that do not exist"):
        ScheduleExplorer({"a": LINEAR}, data_std={"b": 2.0})
    for bad in (0.0, -1.0, float("nan"), "2"):
        with pytest.raises(ValueError, match="data_std"):
            ScheduleExplorer({"a": LINEAR}, data_std=bad)
        with pytest.raises(ValueError, match=r"data_std\['a'\]"):
            ScheduleExplorer({"a": LINEAR}, data_std={"a": bad})
