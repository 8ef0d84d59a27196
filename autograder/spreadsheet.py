"""The CSV files a TA opens in a spreadsheet: no text in them can become a formula.

Student ids are folder names (exchange logins, or names zip_collect derived from uploaded
file names), problems name the files a student handed in, and a Canvas roster holds names
students chose: all of it is student text. A spreadsheet takes a cell that starts with
``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return before one) as a formula: CSV
injection, where ``=HYPERLINK(...)`` carries the sheet's data to a link and ``=cmd|...``
started a program in older Excel. Such a text cell is written behind an apostrophe, which
spreadsheets show as text; numbers (``-0.5`` too) are written as they are.
"""

from __future__ import annotations

import csv

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def text_cell(value):
    """``value`` as a CSV cell a spreadsheet shows as written (a str or a number)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _number(value):
        return "'" + value
    return value


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class Writer:
    """csv.writer whose cells go through text_cell."""

    def __init__(self, stream):
        self._writer = csv.writer(stream)

    def writerow(self, row) -> None:
        self._writer.writerow([text_cell(value) for value in row])

    def writerows(self, rows) -> None:
        for row in rows:
            self.writerow(row)
