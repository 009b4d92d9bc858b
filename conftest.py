"""Repository-wide pytest configuration.

Notebooks run under nbval: their stderr (warnings, progress bars) is not compared, only
stdout and rich outputs of cells marked ``# NBVAL_CHECK_OUTPUT``.
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collectstart(collector):
    if str(getattr(collector, "path", "")).endswith(".ipynb"):
        collector.skip_compare += ("stderr",)
