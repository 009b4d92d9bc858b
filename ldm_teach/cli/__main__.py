"""``python -m ldm_teach.cli``: the ``ldm-teach`` command (:func:`ldm_teach.cli.main`)."""

import sys

from ldm_teach.cli import main

sys.exit(main())
