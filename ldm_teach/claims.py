"""Claims that read the same on every machine: what a notebook's check cells print.

nbval compares a check cell's stored output with a fresh run, character for character.
Floating-point results of reductions, convolutions, sampling loops and training runs
move in their last digits with the CPU's kernels (``ATEN_CPU_CAPABILITY``) and the thread
count (``OMP_NUM_THREADS``), so a check cell that prints ``PSNR 36.89 dB`` holds only on
the machine that wrote it. A check cell prints *claims* instead, at the precision the
claim needs, and the full table goes in an unchecked cell above it::

    claim("KL f=4 keeps PSNR above 35 dB", psnr_kl > 35, got=psnr_kl)
    # KL f=4 keeps PSNR above 35 dB: True

    claim_close("max |ours - diffusers|", diff, 0.0, atol=1e-5)
    # max |ours - diffusers| = 0 ± 1e-05: True

The text printed when a claim holds depends only on the statement, never on the measured
value, so the stored output is the same on every machine. When a claim fails, the line
ends in ``False`` and the measured value, so nbval's diff shows what was measured.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

__all__ = ["claim", "claim_close"]


def _as_bool(holds: Any, name: str) -> bool:
    """A Python bool from a bool, a NumPy bool or a one-element torch bool tensor."""
    if type(holds) is bool:
        return holds
    dtype = str(getattr(holds, "dtype", ""))
    numel = getattr(holds, "numel", None)  # torch
    size = numel() if callable(numel) else getattr(holds, "size", None)  # NumPy
    if dtype in ("bool", "torch.bool") and size == 1:
        value = holds.item()
        if type(value) is bool:
            return value
    raise TypeError(
        f"{name} must be a bool (or a NumPy/torch boolean scalar), got {type(holds).__name__}"
    )


def _describe(value: Any) -> str:
    """Short text of a measured value for a failed claim (4 significant digits)."""
    if type(value) is float:
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_describe(v)}" for k, v in value.items()) + "}"
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return _describe(tolist())
    return repr(value)


def _typed(expected: Any) -> str:
    """Text of an expected value as its author typed it (``repr`` of Python floats)."""
    tolist = getattr(expected, "tolist", None)
    if tolist is not None and not isinstance(expected, (list, tuple)):
        expected = tolist()  # an array or tensor: its exact values, never rounded
    if isinstance(expected, (list, tuple)):
        return "[" + ", ".join(_typed(v) for v in expected) + "]"
    return repr(expected)


def claim(statement: str, holds: Any, got: Any = None) -> None:
    """Print ``"{statement}: True"``, or ``"{statement}: False (got ...)"``.

    Nothing is returned, so a claim on the last line of a cell adds no ``Out[]``.

    Args:
        statement: the claim in words, e.g. ``"loss fell by more than half"``. It must
            not contain measured digits: it is the text compared on every machine.
        holds: whether the claim holds; a bool, a NumPy bool or a 0-d torch bool tensor.
        got: the measured value, printed (4 significant digits) only if the claim fails.
    Raises:
        TypeError: if ``statement`` is not a non-empty str or ``holds`` is not boolean.
    """
    if type(statement) is not str or not statement:
        raise TypeError(f"statement must be a non-empty str, got {statement!r}")
    ok = _as_bool(holds, "holds")
    if ok or got is None:
        print(f"{statement}: {ok}")
    else:
        print(f"{statement}: False (got {_describe(got)})")


def _flat_floats(value: Any, name: str) -> tuple[list[float], tuple[int, ...]]:
    """Flatten a number, a nested list/tuple, a NumPy array or a torch tensor."""
    tolist = getattr(value, "tolist", None)
    if tolist is not None and not isinstance(value, (list, tuple)):
        value = tolist()
    if isinstance(value, bool):  # True == 1: a flag compared with a number is a mistake
        raise TypeError(f"{name} must be a number, got the bool {value!r}")
    if isinstance(value, Real):
        try:
            return [float(value)], ()
        except OverflowError:
            raise ValueError(f"{name} is too large for a float: {value!r}") from None
    if isinstance(value, (list, tuple)):
        parts = [_flat_floats(v, name) for v in value]
        shapes = {s for _, s in parts}
        if len(shapes) > 1:
            raise ValueError(f"{name} is ragged: elements have shapes {sorted(shapes)}")
        inner = shapes.pop() if shapes else ()
        return [x for flat, _ in parts for x in flat], (len(value), *inner)
    raise TypeError(
        f"{name} must be a number, a list of numbers, an array or a tensor, "
        f"got {type(value).__name__}"
    )


def claim_close(name: str, value: Any, expected: Any, atol: float = 0.0, rtol: float = 0.0) -> None:
    """Claim that ``value`` equals ``expected`` within ``atol + rtol * |expected|``.

    Prints ``"{name} = {expected} ± {tolerance}: True"``; on failure the line ends in
    ``False (got ...)``. ``expected`` and the tolerances are typed by the author of the
    check, so the printed text is the same wherever it runs; NaN never counts as close.

    Args:
        name: what is measured, e.g. ``"PSNR of f=2, dB"``.
        value: measured number(s): float, int, nested list/tuple, NumPy array or tensor.
        expected: number(s) of the same shape (Python numbers or lists of them).
        atol: absolute tolerance, >= 0.
        rtol: relative tolerance, >= 0 (relative to ``|expected|``, elementwise).
    Raises:
        ValueError: if a tolerance is negative or not finite, or both are 0; if
            ``expected`` is ragged or too large for a float.
        TypeError: if ``value`` or ``expected`` is not numeric.
    """
    for tol_name, tol in (("atol", atol), ("rtol", rtol)):
        if not isinstance(tol, Real) or isinstance(tol, bool) or not math.isfinite(tol) or tol < 0:
            raise ValueError(f"{tol_name} must be a finite number >= 0, got {tol!r}")
    if atol == 0 and rtol == 0:
        raise ValueError(
            "give atol or rtol > 0: exact float equality is not a claim that holds on every machine"
        )
    want, want_shape = _flat_floats(expected, "expected")
    tolerance = " ± " + " + ".join(
        t for t in (f"{atol:g}" if atol else "", f"{rtol:g} relative" if rtol else "") if t
    )
    statement = f"{name} = {_typed(expected)}{tolerance}"
    try:
        got, got_shape = _flat_floats(value, "value")
    except (TypeError, ValueError) as err:
        print(f"{statement}: False ({err})")
        return
    if got_shape != want_shape:
        print(f"{statement}: False (got shape {got_shape}, expected {want_shape})")
        return
    ok = all(
        math.isfinite(g) and abs(g - w) <= atol + rtol * abs(w)
        for g, w in zip(got, want, strict=True)
    )
    claim(statement, ok, got=value)
