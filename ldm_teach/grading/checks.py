"""Helpers for the check cells of exercise notebooks.

A check cell calls the student's code and prints a few deterministic lines; nbval compares
them with the output stored in the solution notebook (tag ``nbval-check-output``). These
helpers keep that comparison fair:

- ``run_quietly`` silences the student's own prints, so a debug ``print`` in an answer does
  not change the compared output;
- ``require_type`` checks the exact type of a result (``type(v) is T``), so an object that
  pretends to be a tensor, or whose ``__eq__`` always answers True, fails loudly;
- ``fmt`` turns numbers, arrays and tensors into the same text on every run and platform
  (fixed decimals, no ``-0.0000``), and refuses types it does not know;
- ``hint`` prints advice to stderr, which the grader does not compare;
- ``claim`` and ``claim_close`` (from ``ldm_teach.claims``) print a result that is a float
  of a reduction, a sampling loop or a trained model as a claim at the precision it needs
  (``PSNR = [26.36, 20.43] ± 0.01: True``), so the expected output holds on every CPU
  while a wrong answer still prints ``False``. Exact results (integers, shapes, booleans,
  exact arithmetic) are printed with ``fmt``.

A typical check cell::

    out = run_quietly(add, 2, 3)
    require_type(out, int, "add(2, 3)")
    print(fmt(out))
    print(fmt(run_quietly(add, -7, 11.5)))   # an input the prompt never shows

The PASS/FAIL line that ``build-exercises`` adds to every check cell (``begin_check``)
lives in ``verdict.py`` and is imported from here. No torch import happens here unless a
tensor is formatted, so check cells stay quick.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from ldm_teach.argcheck import check_int
from ldm_teach.claims import claim, claim_close
from ldm_teach.grading.verdict import (  # noqa: F401  (check cells import them from here)
    SelfCheck,
    begin_check,
)

__all__ = ["claim", "claim_close", "fmt", "hint", "require_type", "run_quietly"]

T = TypeVar("T")


@contextlib.contextmanager
def _fd_silenced(fd: int):
    """Point file descriptor ``fd`` at /dev/null for the duration (best effort).

    Catches output that bypasses ``sys.stdout`` (C extensions, ``os.write``). Where the
    descriptor cannot be duplicated (an unusual host), nothing is silenced at that level.
    """
    try:
        saved = os.dup(fd)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def run_quietly(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn(*args, **kwargs)`` with its stdout and stderr discarded.

    Both the Python streams (``sys.stdout``, ``sys.stderr``) and the process's file
    descriptors 1 and 2 are redirected while ``fn`` runs, and restored afterwards, also
    when ``fn`` raises.

    Args:
        fn: the student's function (any callable).
        *args, **kwargs: passed to ``fn`` unchanged.
    Returns:
        Whatever ``fn`` returns.
    Raises:
        TypeError: if ``fn`` is not callable; anything ``fn`` raises propagates unchanged.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        with _fd_silenced(1), _fd_silenced(2):
            return fn(*args, **kwargs)


def require_type(value: T, expected_type: type | tuple[type, ...], name: str) -> T:
    """Check that ``type(value) is expected_type`` exactly (subclasses are refused).

    Args:
        value: the result to check.
        expected_type: a type, or a tuple of types any one of which is accepted exactly.
        name: how the check cell names the value in the error, e.g. ``"add(2, 3)"``.
    Returns:
        ``value`` itself, so the call can wrap an expression.
    Raises:
        TypeError: naming ``name``, the expected type(s) and the actual type.
    """
    allowed = expected_type if isinstance(expected_type, tuple) else (expected_type,)
    if not all(isinstance(t, type) for t in allowed):
        raise TypeError(f"expected_type must be a type or a tuple of types, got {expected_type!r}")
    if type(value) not in allowed:
        wanted = " or ".join(_type_name(t) for t in allowed)
        raise TypeError(f"{name} must be of type {wanted}, got {_type_name(type(value))}")
    return value


def _type_name(t: type) -> str:
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _fmt_float(x: float, digits: int) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = f"{x:.{digits}f}"
    # -0.0000 and 0.0000 are the same number; print it one way
    if text.lstrip("-").strip("0.") == "":
        text = text.lstrip("-")
    return text


def _fmt_nested(values: Any, digits: int, as_float: bool) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_fmt_nested(v, digits, as_float) for v in values) + "]"
    if as_float:
        return _fmt_float(float(values), digits)
    return str(values)


def fmt(x: Any, digits: int = 4) -> str:
    """Format a value as text that is identical on every run.

    Floats get exactly ``digits`` decimals (``-0.0000`` prints as ``0.0000``; NaN and
    infinities as ``nan``, ``inf``, ``-inf``). Integers, booleans, strings and ``None``
    print as Python does. Lists, tuples and dicts are formatted element by element.
    NumPy arrays and torch tensors print as nested lists: float dtypes with ``digits``
    decimals, integer and boolean dtypes exactly; a 0-d array prints as a scalar. Shapes
    and dtypes are not printed: a check cell prints them itself when they matter.

    Types are matched exactly (``type(x) is float``), so a subclass with a doctored
    ``__format__`` or ``__repr__`` is refused rather than trusted.

    Args:
        x: bool, int, float, str, None, list, tuple, dict, NumPy scalar or array,
            torch tensor (any device; copied to the CPU).
        digits: decimals for floating-point values, 0 to 12.
    Returns:
        The text.
    Raises:
        ValueError: if ``digits`` is out of range.
        TypeError: for any other type.
    """
    check_int(digits, "digits", 0, 12)
    t = type(x)
    if x is None or t in (bool, int, str):
        return str(x)
    if t is float:
        return _fmt_float(x, digits)
    if t is list:
        return "[" + ", ".join(fmt(v, digits) for v in x) + "]"
    if t is tuple:
        inner = ", ".join(fmt(v, digits) for v in x)
        return "(" + inner + ("," if len(x) == 1 else "") + ")"
    if t is dict:
        return "{" + ", ".join(f"{fmt(k, digits)}: {fmt(v, digits)}" for k, v in x.items()) + "}"
    module = t.__module__.split(".")[0]
    if module == "numpy":
        import numpy as np

        if t is np.ndarray or isinstance(x, np.generic):
            arr = np.asarray(x)
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"fmt: cannot format a NumPy array of dtype {arr.dtype}")
            as_float = arr.dtype.kind == "f"
            if arr.dtype.kind == "b":
                return _fmt_nested(arr.tolist(), digits, as_float=False)
            return _fmt_nested(arr.tolist(), digits, as_float)
    if module == "torch":
        import torch

        if t in (torch.Tensor, torch.nn.Parameter):
            v = x.detach().cpu()
            if v.is_complex():
                raise TypeError("fmt: cannot format a complex tensor")
            as_float = v.is_floating_point()
            return _fmt_nested((v.double() if as_float else v).tolist(), digits, as_float)
    raise TypeError(
        f"fmt: cannot format a value of type {_type_name(t)}; expected bool, int, float, "
        "str, None, list, tuple, dict, a NumPy array or scalar, or a torch tensor"
    )


def hint(message: str) -> None:
    """Print ``hint: message`` to stderr (the grader does not compare stderr).

    Args:
        message: advice for the student, e.g. which shape was expected.
    """
    print(f"hint: {message}", file=sys.stderr)


# -- probes: hidden checks on secret inputs, compared outside the kernel ----------------

#: the start of the one line a probe cell prints
PROBE_MARK = "LDM-TEACH-PROBE "


def _probe_value(value: Any) -> Any:
    """A JSON-able record of ``value`` that keeps its exact type (see ``report_values``)."""
    t = type(value)
    if value is None or t in (bool, int, str):
        return {"type": t.__name__, "value": value}
    if t is float:
        return {"type": "float", "value": value}
    if t in (list, tuple):
        return {"type": t.__name__, "items": [_probe_value(v) for v in value]}
    if t is dict:
        return {"type": "dict", "items": {str(k): _probe_value(v) for k, v in value.items()}}
    if t.__module__.split(".")[0] == "torch":
        import torch

        if t in (torch.Tensor, torch.nn.Parameter):
            v = value.detach().cpu()
            flat = (v.double() if v.is_floating_point() else v).flatten().tolist()
            return {
                "type": "torch.Tensor",
                "dtype": str(v.dtype),
                "shape": list(v.shape),
                "values": flat,
            }
    return {"type": _type_name(t)}  # anything else: only its type, which will not match


def report_values(**values: Any) -> None:
    """Print what a probe measured as one line of JSON (``PROBE_MARK`` + JSON).

    A probe is a grader-only cell (``"role": "probe"``) that calls the student's functions
    on inputs drawn from the grader's secret seed. The grader runs the same probe with
    the solution in a separate process and compares the two lines outside the student's
    kernel (``probes.compare``): exact types, shapes, integers and strings; floats within
    the probe's tolerance.

    Args:
        **values: name -> bool, int, float, str, None, list, tuple, dict or torch tensor
            (any other type is recorded by its type name only, and so never matches).
    """
    import json

    print(PROBE_MARK + json.dumps({k: _probe_value(v) for k, v in values.items()}))
