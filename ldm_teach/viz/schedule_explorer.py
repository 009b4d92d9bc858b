"""Named noise schedules side by side: ᾱ_t, β_t and the effective SNR in dB (Sec. 10.3.2).

Three panels, one line per schedule and a marker at the chosen t on the selected one:

    ᾱ_t = ∏_{s <= t} (1 - β_s)                           (Ho et al. 2020, Eq. 4)
    β_t                                                   on a log axis
    SNR_eff(t) = 10 log10(σ² ᾱ_t / (1 - ᾱ_t))  dB        (``diffusion/snr.py``)

σ is the std of the data a schedule is used with (``data_std``): the chapter's heuristic
and the σ shift are schedules for unscaled latents (σ ≈ 2.25 on digits-kl-f4), so their
SNR is only comparable with the others once σ² is counted. In a Jupyter kernel,
:func:`~ldm_teach.viz.steppers.show` displays the widget (a dropdown and a slider over t);
elsewhere the static figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.figure import Figure

from ldm_teach.argcheck import check_real, is_int
from ldm_teach.diffusion.schedules import NoiseSchedule
from ldm_teach.diffusion.snr import effective_snr_db
from ldm_teach.viz.steppers import DPI, _png
from ldm_teach.viz.ticks import readable_log_ticks

__all__ = ["ScheduleExplorer"]


def _check_schedules(schedules) -> int:
    if not isinstance(schedules, Mapping) or not schedules:
        raise ValueError("schedules must be a non-empty dict of name -> NoiseSchedule")
    wrong = [k for k, v in schedules.items() if not isinstance(v, NoiseSchedule)]
    if wrong:
        raise ValueError(
            f"schedules[{wrong[0]!r}] must be a NoiseSchedule, got "
            f"{type(schedules[wrong[0]]).__name__}"
        )
    lengths = {s.num_train_timesteps for s in schedules.values()}
    if len(lengths) != 1:
        raise ValueError(f"all schedules must have the same number of steps, got {lengths}")
    return lengths.pop()


def _check_data_std(data_std, names) -> dict[str, float]:
    if data_std is None:
        return dict.fromkeys(names, 1.0)
    if not isinstance(data_std, Mapping):
        sigma = check_real(data_std, "data_std", lo=0.0, lo_open=True)
        return dict.fromkeys(names, sigma)
    unknown = sorted(set(data_std) - set(names))
    if unknown:
        raise ValueError(f"data_std names schedules that do not exist: {unknown} ({list(names)})")
    return {
        n: check_real(data_std.get(n, 1.0), f"data_std[{n!r}]", lo=0.0, lo_open=True) for n in names
    }


class ScheduleExplorer:
    """ᾱ_t, β_t and the effective SNR (dB) of named schedules, with a marker at t.

    Args:
        schedules: name -> NoiseSchedule, all with the same number of steps T.
        data_std: σ of the data each schedule is used with: None (1 for all), one positive
            number for all, or name -> σ (names left out get 1).
    Raises:
        ValueError: if schedules is empty, holds something other than a NoiseSchedule, or
            the schedules differ in length; if a σ is not a positive finite number or
            data_std names a schedule that is not there.
    """

    def __init__(
        self,
        schedules: Mapping[str, NoiseSchedule],
        data_std: float | Mapping[str, float] | None = None,
    ) -> None:
        self.T = _check_schedules(schedules)
        self.schedules = dict(schedules)
        self.data_std = _check_data_std(data_std, list(self.schedules))
        steps = torch.arange(self.T)
        # float64 curves, (T,) each; -inf dB (ᾱ = 0) is left out of the plot as NaN
        self.curves = {
            key: {
                "alpha_bar": s.alphas_cumprod.double().cpu().numpy(),
                "beta": s.betas.double().cpu().numpy(),
                "snr_db": effective_snr_db(s, steps, self.data_std[key]).cpu().numpy(),
            }
            for key, s in self.schedules.items()
        }

    def _label(self, key: str) -> str:
        sigma = self.data_std[key]
        return key if sigma == 1.0 else f"{key} (data std {sigma:.3g})"

    def figure(self, name: str, t: int) -> Figure:
        """The three panels for schedule ``name`` at step ``t`` (a Figure; caller closes).

        Raises:
            ValueError: for an unknown name or a t that is not an int in [0, T-1].
        """
        if name not in self.schedules:
            raise ValueError(f"name must be one of {list(self.schedules)}, got {name!r}")
        if not is_int(t) or not 0 <= t < self.T:
            raise ValueError(f"t must be an int in [0, {self.T - 1}], got {t!r}")
        fig = Figure(figsize=(10.5, 3.6), dpi=DPI)
        axes = fig.subplots(1, 3)
        steps = np.arange(self.T)
        panels = ("alpha_bar", "beta", "snr_db")
        for key, c in self.curves.items():
            lw = 2.4 if key == name else 1.0
            for ax, panel in zip(axes, panels, strict=True):
                y = np.where(np.isfinite(c[panel]), c[panel], np.nan)
                ax.plot(steps, y, lw=lw, label=self._label(key) if panel == "beta" else None)
        at = {panel: float(self.curves[name][panel][t]) for panel in panels}
        for ax, panel in zip(axes, panels, strict=True):
            if math.isfinite(at[panel]):
                ax.plot([t], [at[panel]], "ko", ms=6)
            ax.set_xlabel("t", fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
        axes[0].set_title(r"$\bar\alpha_t$", fontsize=10)
        axes[1].set_title(r"$\beta_t$ (log scale)", fontsize=10)
        axes[1].set_yscale("log")
        readable_log_ticks(axes[1], "y")
        axes[2].set_title(
            r"effective SNR (dB): $10\,\log_{10}(\sigma^2\,\mathrm{SNR}(t))$", fontsize=10
        )
        fig.suptitle(
            f"{name} at t = {t}:  ᾱ = {at['alpha_bar']:.3g},  β = {at['beta']:.3g},  "
            f"SNR_eff = {at['snr_db']:+.1f} dB",
            fontsize=10,
        )
        fig.legend(loc="lower center", ncol=3, fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.14, 1, 1))
        return fig

    def render(self, name: str, t: int) -> bytes:
        """One view as PNG bytes."""
        return _png(self.figure(name, t))

    def widget(self):
        """An ipywidgets VBox: a schedule dropdown and a t slider above the redrawn image.

        Raises ImportError if ipywidgets is not installed.
        """
        import ipywidgets as w

        names = list(self.schedules)
        dropdown = w.Dropdown(options=names, value=names[0], description="schedule")
        slider = w.IntSlider(
            value=self.T // 2,
            min=0,
            max=self.T - 1,
            step=10,
            description="t",
            continuous_update=False,
        )
        image = w.Image(value=self.render(names[0], self.T // 2), format="png")

        def redraw(_):
            image.value = self.render(dropdown.value, slider.value)

        dropdown.observe(redraw, names="value")
        slider.observe(redraw, names="value")
        box = w.VBox([w.HBox([dropdown, slider]), image])
        box.add_class("ldm-teach-stepper")
        return box

    def static(self, name: str | None = None, t: int | None = None) -> Figure:
        """The figure of ``name`` (default: the first schedule) at ``t`` (default T // 2)."""
        name = next(iter(self.schedules)) if name is None else name
        t = self.T // 2 if t is None else t
        return self.figure(name, t)
