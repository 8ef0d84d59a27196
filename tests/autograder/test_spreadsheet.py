"""CSV cells a spreadsheet would run as formulas are written as text; numbers as they are."""

import csv
import io

import pytest

from autograder.spreadsheet import Writer, text_cell


@pytest.mark.parametrize(
    "text",
    ["=HYPERLINK(\"http://evil\",\"x\")", "+SUM(1)", "-2+3", "@SUM(A1)", "\t=1", "\r=1",
     "=cmd|' /C calc'!A0", "＝1+1", "-", "--x"],
)  # fmt: skip
def test_a_text_that_starts_a_formula_is_written_as_text(text):
    assert text_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["ada", "zoë 李", "-0.5", "+3", "-1e-05", "", 7, -2.5, None])
def test_names_and_numbers_are_written_as_they_are(value):
    assert text_cell(value) == value


def test_the_writer_neutralizes_every_cell_of_every_row():
    out = io.StringIO()
    writer = Writer(out)
    writer.writerow(["=1+1", 3, "-4"])
    writer.writerows([["@x", "ok"], ["+y", -1.5]])
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [["'=1+1", "3", "-4"], ["'@x", "ok"], ["'+y", "-1.5"]]
