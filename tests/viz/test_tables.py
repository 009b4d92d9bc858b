"""Notebook tables (ldm_teach.viz.tables)."""

import pytest

from ldm_teach.viz import table


def test_text_layout_aligns_numbers_right_and_text_left():
    t = table(
        [("f=4", 256, 27.314), ("f=16", 32, None)],
        ("model", "values", "PSNR (dB)"),
        formats={"PSNR (dB)": ".2f"},
        title="Reconstruction",
    )
    assert str(t) == (
        "Reconstruction\n"
        "model  values  PSNR (dB)\n"
        "-----  ------  ---------\n"
        "f=4       256      27.31\n"
        "f=16       32          -"
    )
    assert repr(t) == str(t)


def test_html_escapes_and_aligns():
    t = table([("<b>", 0.5)], ("name", "p"), formats={"p": lambda v: f"{v:.0%}"})
    html = t._repr_html_()
    assert (
        "&lt;b&gt;" in html and '<td style="text-align:right;white-space:nowrap">50%</td>' in html
    )


def test_bad_rows_and_formats_are_named():
    with pytest.raises(ValueError, match=r"row 1 has 1 values, expected 2"):
        table([(1, 2), (3,)], ("a", "b"))
    with pytest.raises(ValueError, match=r"formats names columns that do not exist: \['c'\]"):
        table([(1, 2)], ("a", "b"), formats={"c": ".2f"})
    assert str(table([], ("a",))) == "a\n-"
