"""Readable log-axis ticks (ldm_teach.viz.ticks)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from ldm_teach.viz import plot_curves, readable_log_ticks  # noqa: E402


def _labels(ax, axis="y"):
    target = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    ticks = [t for t in target.get_majorticklocs() if lo <= t <= hi]
    fmt = target.get_major_formatter()
    return [fmt(t) for t in ticks], target.get_minor_formatter()


@pytest.mark.parametrize(
    "lo,hi,expected",
    [
        (0.15, 0.6, ["0.2", "0.5"]),  # under a decade: 1-2-5 still leaves two labels
        (0.012, 0.7, ["0.02", "0.05", "0.1", "0.2", "0.5"]),
        (1, 1e4, ["1", "10", "100", "1000", "10000"]),  # long: powers of ten only
        (0.61, 0.89, ["0.7", "0.8"]),  # 1-2-5 would leave none: every mantissa
    ],
)
def test_few_plain_labels_and_no_minor_labels(lo, hi, expected):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [lo, hi])
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    readable_log_ticks(ax)
    labels, minor = _labels(ax)
    assert labels == expected and isinstance(minor, NullFormatter)
    plt.close(fig)


def test_plot_curves_uses_it_on_a_log_axis():
    ax = plot_curves({"loss": [0.6, 0.4, 0.3, 0.2, 0.15]}, logy=True)
    labels, minor = _labels(ax)
    assert "×" not in "".join(labels) and isinstance(minor, NullFormatter)
    plt.close(ax.figure)


def test_bad_axes_are_refused():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="log-scaled"):
        readable_log_ticks(ax)
    with pytest.raises(ValueError, match="axis"):
        readable_log_ticks(ax, "z")
    plt.close(fig)
