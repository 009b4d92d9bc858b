"""Interactive steppers for the diffusion notebooks (chapter 10.3.6), with static fallbacks.

- :class:`ForwardStepper`: a slider over t; shows the decoded noisy latent x_t, the latent's
  histogram against N(0, 1), and its effective SNR in dB (Ho et al. 2020, Eq. 4;
  ``diffusion/snr.py``).
- :class:`ReverseStepper`: a slider over the steps of a precomputed sampler trajectory
  (``ddim_sample(..., return_trajectory=True)``); shows x_t and the predicted x0, decoded.
- :class:`~ldm_teach.viz.schedule_explorer.ScheduleExplorer` (its own module): a dropdown
  of named schedules and a slider over t.

Each stepper renders one frame to PNG bytes (:meth:`render`, used by the widget and by the
tests), builds an ipywidgets front end (:meth:`widget`: a slider and an ``Image`` that is
redrawn when the slider moves), and draws a static matplotlib figure of a few frames
(:meth:`static`). :func:`show` picks the widget inside a Jupyter kernel with ipywidgets,
and the static figure elsewhere or when ``LDM_TEACH_STATIC_WIDGETS=1`` (headless runs
that must print stable output).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ldm_teach.argcheck import is_int
from ldm_teach.diffusion.forward import q_sample
from ldm_teach.diffusion.schedules import NoiseSchedule
from ldm_teach.diffusion.snr import effective_snr_db
from ldm_teach.viz.grids import to_uint8_grid
from ldm_teach.viz.png import png_bytes

STATIC_ENV = "LDM_TEACH_STATIC_WIDGETS"
#: Resolution of every rendered frame: 100 dpi keeps 8-pt labels legible on a laptop.
DPI = 100


def widgets_available() -> bool:
    """True inside a Jupyter kernel with ipywidgets importable, unless the environment
    variable ``LDM_TEACH_STATIC_WIDGETS`` is set to a non-empty value other than "0"."""
    if os.environ.get(STATIC_ENV, "0") not in ("", "0"):
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _png(fig: Figure) -> bytes:
    """``fig`` as a palette PNG (:func:`~ldm_teach.viz.png.png_bytes`), then closed."""
    data = png_bytes(fig)
    plt.close(fig)
    return data


class _Stepper:
    """Shared plumbing: ``frames`` values of the slider, ``draw(value, axes)`` per frame."""

    label = "t"
    panels = 1
    figsize = (3.2, 3.0)

    def frames(self) -> list[int]:  # pragma: no cover - overridden
        raise NotImplementedError

    def draw(self, value: int, axes: Sequence[plt.Axes]) -> None:  # pragma: no cover
        raise NotImplementedError

    def _check(self, value: int) -> int:
        frames = self.frames()
        if not is_int(value) or value not in frames:
            shown = frames if len(frames) <= 12 else frames[:6] + ["..."] + frames[-3:]
            raise ValueError(
                f"{self.label} must be one of the stepper's frames {shown}, got {value!r}"
            )
        return value

    def figure(self, value: int) -> Figure:
        """A matplotlib figure of one frame (not shown; caller closes it)."""
        self._check(value)
        fig = Figure(figsize=(self.figsize[0] * self.panels, self.figsize[1]), dpi=DPI)
        axes = [fig.add_subplot(1, self.panels, i + 1) for i in range(self.panels)]
        self.draw(value, axes)
        fig.tight_layout()
        return fig

    def render(self, value: int) -> bytes:
        """One frame as PNG bytes."""
        return _png(self.figure(value))

    def widget(self):
        """An ipywidgets VBox: a slider over the frames and an Image redrawn on change.

        Raises ImportError if ipywidgets is not installed.
        """
        import ipywidgets as w

        frames = self.frames()
        slider = w.SelectionSlider(
            options=frames,
            value=frames[0],
            description=self.label,
            continuous_update=False,
            layout=w.Layout(width="420px"),
        )
        image = w.Image(value=self.render(frames[0]), format="png")

        def redraw(change):
            image.value = self.render(change["new"])

        slider.observe(redraw, names="value")
        box = w.VBox([slider, image])
        box.add_class("ldm-teach-stepper")
        return box

    def static(self, values: Sequence[int] | None = None) -> Figure:
        """A figure with one row per value (default: up to 4 frames spread evenly); a plain
        ``matplotlib.figure.Figure``, not registered with pyplot."""
        frames = self.frames()
        if values is None:
            idx = np.linspace(0, len(frames) - 1, min(4, len(frames))).round().astype(int)
            values = [frames[i] for i in dict.fromkeys(idx.tolist())]
        values = [self._check(v) for v in values]
        if not values:
            raise ValueError("values must name at least one frame")
        fig = Figure(
            figsize=(self.figsize[0] * self.panels, self.figsize[1] * len(values)), dpi=DPI
        )
        axes = fig.subplots(len(values), self.panels, squeeze=False)
        for row, v in zip(axes, values, strict=False):
            self.draw(v, list(row))
        fig.tight_layout()
        return fig


class ForwardStepper(_Stepper):
    """The forward process q(z_t | z_0) on one latent, frame by frame.

    Args:
        z0: one scaled latent (C, h, w) (e.g. ``ldm.encode(x)[0]``).
        schedule: the noise schedule.
        decode: maps latents (B, C, h, w) to images (B, C_img, H, W) in [-1, 1]
            (e.g. ``ldm.decode``).
        timesteps: slider values, ints in [0, T-1] (default 0, 50, ..., T-1).
        seed: fixes the noise eps, so moving the slider only changes t.
    Raises:
        ValueError: if z0 is not 3-D or a timestep is out of range.
    """

    label = "t"
    panels = 2
    figsize = (2.7, 2.5)

    def __init__(
        self,
        z0: Tensor,
        schedule: NoiseSchedule,
        decode: Callable[[Tensor], Tensor],
        timesteps: Sequence[int] | None = None,
        seed: int = 0,
    ) -> None:
        if not isinstance(z0, Tensor) or z0.ndim != 3:
            got = tuple(z0.shape) if isinstance(z0, Tensor) else type(z0).__name__
            raise ValueError(f"z0 must be one latent (C, h, w), got {got}")
        if not callable(decode):
            raise TypeError(f"decode must be callable (latents -> images), got {decode!r}")
        T = schedule.num_train_timesteps
        self.timesteps = (
            sorted({int(t) for t in timesteps})
            if timesteps is not None
            and all(isinstance(t, int) and not isinstance(t, bool) for t in timesteps)
            else (None if timesteps is not None else sorted({*range(0, T, 50), T - 1}))
        )
        if not self.timesteps or any(not 0 <= t < T for t in self.timesteps):
            raise ValueError(
                f"timesteps must be a non-empty list of ints in [0, {T - 1}], got {timesteps!r}"
            )
        self.z0, self.schedule, self.decode = z0, schedule, decode
        self.eps = torch.randn(z0.shape, generator=torch.Generator().manual_seed(seed))
        self.rms = max(float(z0.double().pow(2).mean().sqrt()), 1e-12)  # σ of this latent

    def frames(self) -> list[int]:
        return self.timesteps

    @torch.no_grad()
    def z_t(self, t: int) -> Tensor:
        """The noisy latent at t, (1, C, h, w)."""
        return q_sample(self.z0[None], torch.tensor([t]), self.eps[None], self.schedule)

    def draw(self, t: int, axes) -> None:
        z = self.z_t(t)
        img = to_uint8_grid(self.decode(z).cpu(), nrow=1, padding=0)
        # effective SNR of this latent: mean(z0²) ᾱ_t / (1 - ᾱ_t), in dB
        snr_db = float(effective_snr_db(self.schedule, torch.tensor([t]), self.rms)[0])
        axes[0].imshow(
            img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest"
        )
        axes[0].set_axis_off()
        axes[0].set_title(f"decoded z_t, t={t}\nSNR_eff {snr_db:+.1f} dB", fontsize=9)
        grid = np.linspace(-4, 4, 81)
        axes[1].hist(z.flatten().cpu().numpy(), bins=30, range=(-4, 4), density=True, alpha=0.7)
        axes[1].plot(grid, np.exp(-(grid**2) / 2) / np.sqrt(2 * np.pi), "k--", lw=1)
        axes[1].set_title("latent values vs N(0,1)", fontsize=8)
        axes[1].set_ylim(0, 1.0)
        axes[1].tick_params(labelsize=7)


class ReverseStepper(_Stepper):
    """A precomputed reverse trajectory, step by step.

    Args:
        trajectory: the list returned by ``ddim_sample(..., return_trajectory=True)``
            (dicts with "t", "x_t", "pred_x0" of shape (B, C, h, w)).
        decode: latents -> images in [-1, 1].
        index: which sample of the batch to show.
    Raises:
        ValueError: for an empty trajectory or an index outside the batch.
    """

    label = "step"
    panels = 2
    figsize = (2.6, 2.8)

    def __init__(
        self, trajectory: list[dict], decode: Callable[[Tensor], Tensor], index: int = 0
    ) -> None:
        if not trajectory:
            raise ValueError("trajectory is empty")
        if not callable(decode):
            raise TypeError(f"decode must be callable (latents -> images), got {decode!r}")
        bad = [
            i
            for i, s in enumerate(trajectory)
            if not isinstance(s, dict) or not {"t", "x_t", "pred_x0"} <= set(s)
        ]
        if bad:
            raise ValueError(
                f"trajectory steps must be dicts with 't', 'x_t' and 'pred_x0' (as "
                f"from ddim_sample(..., return_trajectory=True)); step {bad[0]} is "
                f"not"
            )
        if not 0 <= index < trajectory[0]["x_t"].shape[0]:
            raise ValueError(
                f"index must be in [0, {trajectory[0]['x_t'].shape[0] - 1}], got {index}"
            )
        with torch.no_grad():
            self.x_t = [decode(s["x_t"][index : index + 1]).cpu() for s in trajectory]
            self.x0 = [decode(s["pred_x0"][index : index + 1]).cpu() for s in trajectory]
        self.t = [int(s["t"]) for s in trajectory]

    def frames(self) -> list[int]:
        return list(range(len(self.t)))

    def draw(self, step: int, axes) -> None:
        for ax, img, title in (
            (axes[0], self.x_t[step], "x_t (decoded)"),
            (axes[1], self.x0[step], "predicted x0"),
        ):
            arr = to_uint8_grid(img, nrow=1, padding=0)
            ax.imshow(
                arr,
                cmap="gray" if arr.ndim == 2 else None,
                vmin=0,
                vmax=255,
                interpolation="nearest",
            )
            ax.set_axis_off()
            ax.set_title(f"{title}\nstep {step + 1}/{len(self.t)}, t={self.t[step]}", fontsize=8)


def show(stepper, mode: str = "auto", **static_kwargs):
    """Display a stepper: the widget in a Jupyter kernel with ipywidgets (``mode="auto"``
    or ``"widget"``), else (or with ``mode="static"``) its static figure.

    Returns the widget or the figure. Raises ValueError for an unknown mode.
    """
    if mode not in ("auto", "widget", "static"):
        raise ValueError(f"mode must be 'auto', 'widget' or 'static', got {mode!r}")
    if not (hasattr(stepper, "widget") and hasattr(stepper, "static")):
        raise TypeError(
            f"stepper must be a ForwardStepper, ReverseStepper or ScheduleExplorer, "
            f"got {type(stepper).__name__}"
        )
    if mode == "widget" or (mode == "auto" and widgets_available()):
        from IPython.display import display

        box = stepper.widget()
        display(box)
        return box
    fig = stepper.static(**static_kwargs)
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: the caller saves or shows the figure
        return fig
    if get_ipython() is not None:
        from IPython.display import display

        display(fig)
    return fig
