"""Argument checks shared by the whole package (the bottom layer: imports nothing of ours).

Each check returns the value it accepted (converted where it says so) or raises
``ValueError`` with a message that names the argument, says what was expected and shows
what was given::

    steps = check_int(steps, "steps", lo=1)          # "steps must be an int >= 1, got 0"
    p = check_real(p, "p", lo=0.0, hi=1.0)           # "p must be a number in [0, 1], ..."

``expected=`` replaces the generated description where a message is pinned by tests or
reads better in words ("a positive int"). Python's ``bool`` is an ``int`` subclass; it is
refused everywhere a number is expected (``True`` steps is a mistake, not 1).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = [
    "argparse_type",
    "check_bool",
    "check_choice",
    "check_int",
    "check_probability",
    "check_real",
    "is_int",
    "is_real",
]


def is_int(value: Any) -> bool:
    """True for Python and numpy integers, False for bools and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """True for ints and floats (Python or numpy), False for bools, complex and the rest."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _describe(kind: str, lo, hi, lo_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f"{kind} in {'(' if lo_open else '['}{lo:g}, {hi:g}]"
    if lo is not None:
        return f"{kind} {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{kind} <= {hi:g}"
    return kind


def check_int(
    value: Any,
    name: str,
    lo: int | None = None,
    hi: int | None = None,
    *,
    expected: str | None = None,
) -> int:
    """``value`` if it is an int (not a bool) in ``[lo, hi]`` (either bound optional).

    Raises:
        ValueError: "NAME must be EXPECTED, got VALUE", EXPECTED defaulting to e.g.
            "an int >= 1" or "an int in [1, 1000]".
    """
    if not is_int(value) or (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be {expected or _describe('an int', lo, hi)}, got {value!r}")
    return int(value)


def check_real(
    value: Any,
    name: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    expected: str | None = None,
) -> float:
    """``value`` as a float if it is a finite real number (not a bool) in the bounds.

    Args:
        lo, hi: optional bounds, inclusive; ``lo_open`` makes the lower bound exclusive
            (``lo=0, lo_open=True`` is "> 0").
    Raises:
        ValueError: "NAME must be EXPECTED, got VALUE" for NaN, inf, a bool, a non-number
            or a value out of bounds; EXPECTED defaults to e.g. "a finite number > 0".
    """
    ok = is_real(value) and math.isfinite(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value <= hi
    if not ok:
        wanted = expected or _describe("a finite number", lo, hi, lo_open)
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return float(value)


def check_probability(value: Any, name: str, *, expected: str | None = None) -> float:
    """``value`` as a float in [0, 1]. Raises ValueError as :func:`check_real`."""
    return check_real(value, name, 0.0, 1.0, expected=expected or "a probability in [0, 1]")


def check_choice(value: Any, name: str, choices) -> Any:
    """``value`` if it is one of ``choices``. Raises ValueError listing them."""
    if isinstance(value, (list, dict, set)) or value not in tuple(choices):
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is a bool (numpy's included). Raises ValueError for anything else:
    a truthy string such as "no" must not switch a flag on."""
    if not isinstance(value, bool) and type(value).__module__ + type(value).__name__ not in (
        "numpybool_",
        "numpybool",
    ):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def argparse_type(check, **bounds):
    """An ``argparse`` ``type=`` built from :func:`check_int` or :func:`check_real`.

    The text is parsed as an int (for ``check_int``) or a float, then checked with
    ``bounds`` (``lo``, ``hi``, ...); a bad value becomes ``argparse.ArgumentTypeError``
    with the check's message, so argparse prints one line naming the option::

        parser.add_argument("--steps", type=argparse_type(check_int, lo=1))
    """
    import argparse

    parse = int if check is check_int else float

    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
            kind = "an int" if parse is int else "a number"
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        try:
            return check(value, "value", **bounds)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix("value ")) from None

    convert.__name__ = "int" if parse is int else "number"  # argparse names it in errors
    return convert
