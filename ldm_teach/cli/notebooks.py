"""``ldm-teach run-notebooks``: execute notebooks in place with nbclient, outputs stored,
each file replaced atomically only once all its cells have run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def _cmd_run_notebooks(args: argparse.Namespace) -> int:
    from ldm_teach.viz.steppers import STATIC_ENV

    # the kernels inherit this process's environment: without --widgets the stored notebook
    # shows the steppers' static figures (readable on the web); the caller's value is
    # restored afterwards
    previous = os.environ.get(STATIC_ENV)
    if args.widgets:
        os.environ.pop(STATIC_ENV, None)
    else:
        os.environ[STATIC_ENV] = "1"
    try:
        return _execute_notebooks(args)
    finally:
        if previous is None:
            os.environ.pop(STATIC_ENV, None)
        else:
            os.environ[STATIC_ENV] = previous


def _execute_notebooks(args: argparse.Namespace) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    from ldm_teach.training.checkpoint import atomic_write_text, check_output_file

    paths = [Path(name) for name in args.notebooks]
    notebooks = []
    for path in paths:  # all of them, read and validated, before executing any
        if not path.is_file() or path.suffix != ".ipynb":
            print(f"ldm-teach run-notebooks: {path} is not a notebook file", file=sys.stderr)
            return 2
        check_output_file(path, what="notebook", overwrite=True)
        try:
            notebooks.append(nbformat.read(path, as_version=4))
        except OSError:
            raise
        except Exception as err:  # not JSON, or JSON that is not a notebook (jsonschema)
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            print(
                f"ldm-teach run-notebooks: {path} is not a valid notebook ({first})",
                file=sys.stderr,
            )
            return 2
    for path, nb in zip(paths, notebooks, strict=True):
        t0 = time.perf_counter()
        client = NotebookClient(
            nb,
            timeout=args.cell_timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )
        try:
            client.execute()
        except CellExecutionError as err:  # a cell raised: the file is left as it was
            name = getattr(err, "ename", None) or type(err).__name__
            print(
                f"ldm-teach run-notebooks: {path}: a cell raised {name} "
                f"({getattr(err, 'evalue', '')}); the notebook was not changed",
                file=sys.stderr,
            )
            return 1
        except DeadKernelError as err:  # the kernel died (os._exit, out of memory)
            print(
                f"ldm-teach run-notebooks: {path}: the kernel died ({err}); the notebook "
                "was not changed",
                file=sys.stderr,
            )
            return 1
        except TimeoutError:
            print(
                f"ldm-teach run-notebooks: {path}: a cell ran longer than --cell-timeout "
                f"{args.cell_timeout} s; the notebook was not changed",
                file=sys.stderr,
            )
            return 1
        # the whole file, source cells kept, as nbformat.write would; atomically
        text = nbformat.writes(nb)
        atomic_write_text(path, text if text.endswith("\n") else text + "\n")
        print(f"{path}: executed in {time.perf_counter() - t0:.1f} s")
    return 0
