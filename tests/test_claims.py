"""ldm_teach.claims: what check cells print must not depend on the measured digits."""

import math

import numpy as np
import pytest
import torch

from ldm_teach.claims import claim, claim_close


def printed(capsys, fn, *args, **kwargs) -> str:
    assert fn(*args, **kwargs) is None  # no Out[] when a claim ends a cell
    return capsys.readouterr().out


def test_a_holding_claim_prints_only_the_statement(capsys):
    assert printed(capsys, claim, "loss fell by more than half", 0.13 < 0.27, got=0.13) == (
        "loss fell by more than half: True\n"
    )


def test_a_failing_claim_shows_what_was_measured(capsys):
    out = printed(capsys, claim, "PSNR above 35 dB", False, got=34.123456)
    assert out == "PSNR above 35 dB: False (got 34.12)\n"
    assert printed(capsys, claim, "no value", False) == "no value: False\n"


@pytest.mark.parametrize("holds", [np.bool_(True), torch.tensor(True), torch.tensor([True])])
def test_numpy_and_torch_booleans_are_accepted(capsys, holds):
    assert printed(capsys, claim, "s", holds) == "s: True\n"


@pytest.mark.parametrize("holds", [1, 0.0, "yes", None, torch.tensor([True, False]), np.array([1])])
def test_non_boolean_holds_is_refused(holds):
    with pytest.raises(TypeError, match="holds must be a bool"):
        claim("s", holds)


@pytest.mark.parametrize("statement", ["", None, 3])
def test_statement_must_be_text(statement):
    with pytest.raises(TypeError, match="statement"):
        claim(statement, True)


def test_claim_close_text_is_independent_of_the_measured_digits(capsys):
    a = printed(capsys, claim_close, "PSNR, dB", [26.3612, 20.4349], [26.36, 20.43], atol=0.01)
    b = printed(
        capsys, claim_close, "PSNR, dB", torch.tensor([26.3551, 20.4288]), [26.36, 20.43], atol=0.01
    )
    assert a == b == "PSNR, dB = [26.36, 20.43] ± 0.01: True\n"


def test_claim_close_fails_outside_the_tolerance(capsys):
    out = printed(capsys, claim_close, "x", np.array([1.0, 2.5]), [1.0, 2.0], atol=0.1)
    assert out == "x = [1.0, 2.0] ± 0.1: False (got [1, 2.5])\n"


def test_relative_and_absolute_tolerances_add(capsys):
    # |1010 - 1000| = 10 <= 1 + 0.01 * 1000
    assert printed(capsys, claim_close, "y", 1010.0, 1000.0, atol=1.0, rtol=0.01).endswith(
        "± 1 + 0.01 relative: True\n"
    )
    assert printed(capsys, claim_close, "y", 1012.0, 1000.0, atol=1.0, rtol=0.01).endswith(
        "False (got 1012)\n"
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_never_close(capsys, bad):
    assert "False" in printed(capsys, claim_close, "z", [0.0, bad], [0.0, 0.0], atol=1e9)


def test_shape_mismatch_fails_with_both_shapes(capsys):
    out = printed(capsys, claim_close, "s", [[1.0, 2.0]], [1.0, 2.0], atol=1.0)
    assert out == "s = [1.0, 2.0] ± 1: False (got shape (1, 2), expected (2,))\n"


def test_non_numeric_value_fails_instead_of_raising(capsys):
    assert "False (value must be a number" in printed(capsys, claim_close, "s", "12", 12.0, atol=1)
    assert "False (value is ragged" in printed(
        capsys, claim_close, "s", [[1.0], [1.0, 2.0]], [1.0, 2.0], atol=1
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"atol": 0.0, "rtol": 0.0},
        {"atol": -1e-3},
        {"atol": math.nan},
        {"rtol": math.inf},
        {"atol": True},
    ],
)
def test_bad_tolerances_are_refused(kwargs):
    with pytest.raises(ValueError, match="atol|rtol"):
        claim_close("s", 1.0, 1.0, **kwargs)


def test_expected_must_be_numeric():
    with pytest.raises(TypeError, match="expected must be a number"):
        claim_close("s", 1.0, "1.0", atol=1.0)


def test_exported_for_check_cells():
    from ldm_teach.grading import checks

    assert checks.claim is claim and checks.claim_close is claim_close


def test_expected_tensors_print_their_exact_values_not_rounded_ones(capsys):
    out = printed(
        capsys, claim_close, "v", 0.123456, torch.tensor(0.123456, dtype=torch.float64), atol=1e-7
    )
    assert out == "v = 0.123456 ± 1e-07: True\n"


def test_integers_too_large_for_a_float_fail_or_are_refused(capsys):
    assert "False (value is too large" in printed(capsys, claim_close, "s", 10**400, 1.0, atol=1)
    with pytest.raises(ValueError, match="expected is too large"):
        claim_close("s", 1.0, 10**400, atol=1.0)
