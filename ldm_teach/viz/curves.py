"""Line charts for the notebooks: training curves and rate-distortion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ldm_teach.argcheck import check_bool, check_int
from ldm_teach.viz.ticks import readable_log_ticks


def smooth(values: Sequence[float], window: int = 1) -> np.ndarray:
    """Moving average over ``window`` points ('valid' mode: len - window + 1 points)."""
    arr = np.asarray(values, dtype=float)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if window == 1 or len(arr) < window:
        return arr
    return np.convolve(arr, np.ones(window) / window, mode="valid")


def plot_curves(
    curves: Mapping[str, Sequence[float]],
    every: int = 1,
    window: int = 1,
    ax: plt.Axes | None = None,
    title: str = "",
    ylabel: str = "loss",
    logy: bool = False,
) -> plt.Axes:
    """One line per named curve against training step.

    Args:
        curves: name -> values, one value every ``every`` steps.
        every: steps between consecutive values (x axis in steps).
        window: moving-average window applied before plotting.
        ax: axes to draw on (a new figure if None).
        title, ylabel: labels; logy: logarithmic y axis.
    Returns:
        the axes.
    Raises:
        ValueError: if ``every`` is not an int >= 1.
    """
    check_int(every, "every", lo=1)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 3.2))
    for name, values in curves.items():
        y = smooth(values, window)
        x = (np.arange(len(y)) + (window - 1 if len(values) >= window else 0)) * every
        ax.plot(x, y, label=name, lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if check_bool(logy, "logy"):
        ax.set_yscale("log")
        readable_log_ticks(ax, "y")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return ax


def plot_rate_distortion(
    points: Sequence[Mapping],
    jpeg: Sequence[Mapping] = (),
    rate_key: str = "raw_bpp",
    distortion_key: str = "psnr_db",
    ax: plt.Axes | None = None,
    title: str = "",
) -> plt.Axes:
    """Rate-distortion chart: autoencoder points grouped into one line per latent channel
    count (labelled with f), and a JPEG curve.

    Args:
        points: dicts with "f", "channels", ``rate_key`` and ``distortion_key`` (as from
            :func:`ldm_teach.metrics.rate.rate_distortion_point`).
        jpeg: dicts with "bpp" and ``distortion_key`` (one per JPEG quality).
        rate_key: which rate to put on the x axis (log scale, bits per pixel).
    Returns:
        the axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.6))
    for c in sorted({p["channels"] for p in points}):
        row = sorted((p for p in points if p["channels"] == c), key=lambda p: p[rate_key])
        x = [p[rate_key] for p in row]
        y = [p[distortion_key] for p in row]
        ax.plot(x, y, "o-", label=f"KL autoencoder, c={c}")
        for p in row:
            ax.annotate(
                f"f={p['f']}",
                (p[rate_key], p[distortion_key]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    if jpeg:
        row = sorted(jpeg, key=lambda p: p["bpp"])
        ax.plot(
            [p["bpp"] for p in row],
            [p[distortion_key] for p in row],
            "k--",
            lw=1,
            label="JPEG (Pillow)",
        )
    ax.set_xscale("log")
    readable_log_ticks(ax, "x")
    ax.set_xlabel(f"rate ({rate_key.replace('_', ' ')}, bits per pixel)")
    ax.set_ylabel("PSNR (dB)" if distortion_key == "psnr_db" else distortion_key)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return ax
