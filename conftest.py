"""Repository-wide pytest configuration.

Notebooks run under nbval: their stderr (warnings, progress bars) is not compared, only
stdout and rich outputs of cells marked ``# NBVAL_CHECK_OUTPUT``.
"""

import matplotlib

# Unit tests draw off-screen. This selects the backend of the pytest process only: it does
# not set MPLBACKEND, so notebook kernels keep Jupyter's inline backend and their figures.
matplotlib.use("Agg")


def pytest_collectstart(collector):
    if str(getattr(collector, "path", "")).endswith(".ipynb"):
        collector.skip_compare += ("stderr",)
