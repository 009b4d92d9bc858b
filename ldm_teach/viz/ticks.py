"""Log-axis tick labels that stay readable.

Matplotlib labels the minor ticks of a log axis that spans less than a few decades
("2x10^-1", "3x10^-1", "4x10^-1" ...), and on a small figure those labels run into one
another. :func:`readable_log_ticks` labels a short list of round values instead, in
plain numbers ("0.2", "0.5", "1"), and keeps the unlabelled minor ticks for the grid.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ldm_teach.argcheck import check_choice


def _subs_for(decades: float) -> tuple[float, ...]:
    """Mantissas to label: all nine on a short axis, 1-2-5 on a medium one, 1 on a long one."""
    if decades <= 1.0:
        return (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)
    if decades <= 2.5:
        return (1.0, 2.0, 5.0)
    return (1.0,)


def readable_log_ticks(ax: plt.Axes, axis: str = "y") -> plt.Axes:
    """Label a log-scaled axis of ``ax`` with few, plain, non-overlapping numbers.

    Call it after plotting (it reads the axis limits). The labelled values are 1, 2, 5 x
    10^k on an axis spanning up to 2.5 decades, every 10^k on a longer one, and 1 ... 9 x
    10^k on one spanning a decade or less (where 1-2-5 could leave a single label);
    labels are printed with ``format(v, "g")`` (0.2, 5, 100, 1e+04).

    Args:
        ax: a matplotlib Axes whose ``axis`` is log-scaled.
        axis: "x" or "y".
    Returns:
        ``ax``.
    Raises:
        ValueError: if ``axis`` is not "x" or "y", or that axis is not log-scaled.
    """
    check_choice(axis, "axis", ("x", "y"))
    scale = ax.get_xscale() if axis == "x" else ax.get_yscale()
    if scale != "log":
        raise ValueError(f"the {axis} axis must be log-scaled, got scale {scale!r}")
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    decades = math.log10(hi / lo) if lo > 0 else 3.0
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10, subs=_subs_for(decades)))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: format(v, "g")))
    target.set_minor_locator(LogLocator(base=10, subs=tuple(range(1, 10))))
    target.set_minor_formatter(NullFormatter())
    return ax
