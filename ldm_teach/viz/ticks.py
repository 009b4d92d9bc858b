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

ONE_TWO_FIVE = (1.0, 2.0, 5.0)
EVERY_MANTISSA = tuple(float(m) for m in range(1, 10))


def _subs_for(lo: float, hi: float) -> tuple[float, ...]:
    """Mantissas to label: 1 on an axis over 2.5 decades long, else 1-2-5, or all nine
    where 1-2-5 would leave fewer than two labels in view."""
    if math.log10(hi / lo) > 2.5:
        return (1.0,)
    k_lo, k_hi = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    in_view = [m * 10.0**k for k in range(k_lo, k_hi + 1) for m in ONE_TWO_FIVE]
    if sum(lo <= v <= hi for v in in_view) >= 2:
        return ONE_TWO_FIVE
    return EVERY_MANTISSA


def readable_log_ticks(ax: plt.Axes, axis: str = "y") -> plt.Axes:
    """Label a log-scaled axis of ``ax`` with few, plain, non-overlapping numbers.

    Call it after plotting (it reads the axis limits). The labelled values are 1, 2, 5 x
    10^k on an axis spanning up to 2.5 decades, every 10^k on a longer one, and 1 ... 9 x
    10^k on a short one where 1-2-5 would leave fewer than two labels in view; labels are
    printed with ``format(v, "g")`` (0.2, 5, 100, 10000).

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
    subs = _subs_for(lo, hi) if lo > 0 else (1.0,)
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10, subs=subs))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: format(v, "g")))
    target.set_minor_locator(LogLocator(base=10, subs=tuple(range(1, 10))))
    target.set_minor_formatter(NullFormatter())
    return ax
