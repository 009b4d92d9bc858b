"""Check-cell helpers: exact types, deterministic text, silenced student output."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

from ldm_teach.grading.checks import fmt, hint, require_type, run_quietly


@pytest.mark.parametrize(
    "value, text",
    [
        (1 / 3, "0.3333"),
        (2.0, "2.0000"),
        (-0.00001, "0.0000"),  # no negative zero
        (-1.23456, "-1.2346"),
        (float("nan"), "nan"),
        (float("-inf"), "-inf"),
        (5, "5"),
        (True, "True"),
        (None, "None"),
        ("abc", "abc"),
        ([1, 0.5], "[1, 0.5000]"),
        ((2.0,), "(2.0000,)"),
        ({"a": 1.0}, "{a: 1.0000}"),
        (np.float32(0.25), "0.2500"),
        (np.int64(7), "7"),
        (np.array([[1.0, -0.0], [0.5, 2.0]]), "[[1.0000, 0.0000], [0.5000, 2.0000]]"),
        (np.array([1, 2], dtype=np.int32), "[1, 2]"),
        (np.array([True, False]), "[True, False]"),
        (torch.tensor([0.1, 0.2]), "[0.1000, 0.2000]"),
        (torch.tensor(3.0), "3.0000"),
        (torch.tensor([[1, 2]]), "[[1, 2]]"),
        (torch.nn.Parameter(torch.ones(2)), "[1.0000, 1.0000]"),
    ],
)
def test_fmt(value, text):
    assert fmt(value) == text


def test_fmt_digits_and_refusals():
    assert fmt(3.14159, digits=2) == "3.14"
    assert fmt(2.5, digits=0) == "2"  # Python rounds half to even

    class Sneaky(float):
        def __format__(self, spec):
            return "2.3333"

    with pytest.raises(TypeError, match="Sneaky"):
        fmt(Sneaky(1.0))
    with pytest.raises(TypeError, match="cannot format"):
        fmt(object())
    with pytest.raises(ValueError, match="digits"):
        fmt(1.0, digits=-1)


def test_require_type_is_exact():
    t = torch.zeros(2)
    assert require_type(t, torch.Tensor, "x") is t
    assert require_type(3, (int, float), "n") == 3
    with pytest.raises(TypeError, match=r"add\(2, 3\) must be of type int, got bool"):
        require_type(True, int, "add(2, 3)")

    class FakeTensor(torch.Tensor):
        def __eq__(self, other):
            return True

    with pytest.raises(TypeError, match="must be of type torch.Tensor"):
        require_type(torch.zeros(2).as_subclass(FakeTensor), torch.Tensor, "eps")


def test_run_quietly_silences_prints_and_fd_writes(capfd):
    def noisy(a, b=1):
        print("to stdout")
        print("to stderr", file=sys.stderr)
        os.write(1, b"fd level\n")
        return a + b

    assert run_quietly(noisy, 2, b=3) == 5
    print("after")
    out, err = capfd.readouterr()
    assert out == "after\n" and err == ""


def test_run_quietly_restores_streams_when_the_function_raises(capfd):
    def broken():
        print("lost")
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        run_quietly(broken)
    print("visible")
    assert capfd.readouterr().out == "visible\n"
    with pytest.raises(TypeError, match="callable"):
        run_quietly(3)


def test_hint_goes_to_stderr(capsys):
    hint("expected shape (B, 4)")
    out, err = capsys.readouterr()
    assert out == "" and err == "hint: expected shape (B, 4)\n"


# -- the self-check lines of a check cell (begin_check / finish) -------------------------


def test_self_check_says_pass_when_the_printout_matches(capsys):
    from ldm_teach.grading.checks import begin_check

    check = begin_check("1.a", 1, 2, expected="5\n4.5000\n")
    print("5")
    print(fmt(4.5))
    check.finish()
    assert capsys.readouterr().out == "5\n4.5000\nPASS 1.a check 1/2\n"
    assert check.passed is True and sys.stdout is not check.tee


def test_self_check_shows_expected_and_got_and_names_the_parts_it_uses(capsys):
    from ldm_teach.grading.checks import begin_check

    check = begin_check("1.b", 2, 2, expected="mean = 2.3333\nok: True\n", uses=("1.a",))
    print("mean = 0.0000\nok: True")
    check.finish()
    out = capsys.readouterr().out.splitlines()
    assert out[2] == "FAIL 1.b check 2/2: the printout above differs from the expected one"
    assert out[3:5] == ["  expected: mean = 2.3333", "  got:      mean = 0.0000"]
    assert "your functions of 1.a" in out[5] and check.passed is False


def test_self_check_lends_solution_functions_and_restores_the_students():
    from ldm_teach.grading.checks import begin_check

    def add(a, b):  # the student's wrong add
        return a - b

    ns = {"add": add, "x": 1}
    check = begin_check(
        "1.b",
        1,
        1,
        namespace=ns,
        solutions=("def add(a, b):\n    return a + b\n\ndef helper():\n    return x\n",),
    )
    try:
        assert ns["add"](2, 3) == 5 and ns["helper"]() == 1
    finally:
        check.finish()
    assert ns["add"] is add and "helper" not in ns


def test_a_check_that_raised_is_undone_by_the_next_one():
    from ldm_teach.grading.checks import begin_check

    stdout = sys.stdout
    ns = {"f": len}
    begin_check("1.a", 1, 1, expected="x\n", namespace=ns, solutions=("def f():\n    pass\n",))
    assert sys.stdout is not stdout and ns["f"] is not len  # the cell raised here
    nxt = begin_check("1.b", 1, 1)
    assert ns["f"] is len
    nxt.finish()
    assert sys.stdout is stdout


def test_begin_check_refuses_a_bad_index():
    from ldm_teach.grading.checks import begin_check

    with pytest.raises(ValueError, match="index must be an int in \\[1, 2\\], got 3"):
        begin_check("1.a", 3, 2)
