"""Do the report's text and HTML tables keep their columns, whatever the block names and shapes?"""

from html.parser import HTMLParser

import numpy as np

from gradlib import check_gradients

# Blocks with short and long names and shapes: dW10 of shape (4, 3, 2, 5) next to db1 (3, 1).
SHAPES = {"W1": (3, 2), "b1": (3, 1), "W10": (4, 3, 2, 5), "b10": (120, 1)}


def _report(bug: str | None = "W10"):
    """Check J(θ) = Σ θ²/2, whose gradient is θ itself, with ``bug`` doubled."""
    rng = np.random.default_rng(0)
    params = {name: rng.normal(size=shape) for name, shape in SHAPES.items()}
    grads = {"d" + name: value.copy() for name, value in params.items()}
    if bug:
        grads["d" + bug] *= 2

    def cost(p):
        return float(sum(np.sum(v**2) / 2 for v in p.values()))

    return check_gradients(cost, params, grads)


class _Cells(HTMLParser):
    """Every <td>/<th> of a table: (tag, attributes, text)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cells, self._open = [], None

    def handle_starttag(self, tag, attrs):
        if tag in ("td", "th"):
            self._open = [tag, dict(attrs), ""]
            self.cells.append(self._open)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            self._open[2] += data


def _cells(report):
    parser = _Cells()
    parser.feed(report._repr_html_())
    return parser.cells


def test_verdict_cells_never_wrap_between_the_mark_and_the_word():
    cells = _cells(_report())
    verdicts = [c for c in cells if c[1].get("class") == "verdict"]
    assert len(verdicts) == len(SHAPES)
    for _, attrs, text in verdicts:
        assert "white-space: nowrap" in attrs["style"], attrs
        # a non-breaking space between "✓" and "correct", so even a copy keeps them together
        assert text in ("✓\xa0correct", "✗\xa0wrong"), repr(text)
    assert {t for _, _, t in verdicts} == {"✓\xa0correct", "✗\xa0wrong"}


def test_the_worst_elements_column_has_room_and_its_entries_do_not_wrap():
    report = _report()
    cells = _cells(report)
    header = next(c for c in cells if c[0] == "th" and c[2].startswith("worst elements"))
    assert "min-width" in header[1]["style"]
    worst = [c for c in cells if c[1].get("class") == "worst"]
    assert len(worst) == len(SHAPES)
    assert all("min-width" in attrs["style"] for _, attrs, _ in worst)
    html = report._repr_html_()
    for label, _, _ in report.block("W10").worst:
        assert f"<div style='white-space: nowrap'><code>d{label}</code>" in html


def test_names_shapes_and_numbers_do_not_wrap_either():
    cells = [c for c in _cells(_report()) if c[0] == "td"]
    rows = [cells[k : k + 6] for k in range(0, len(cells), 6)]
    assert len(rows) == len(SHAPES)
    for row in rows:
        for _, attrs, text in row[:3]:  # block, shape, relative difference
            assert "white-space: nowrap" in attrs.get("style", ""), (text, attrs)


def test_summary_columns_line_up_for_long_names_and_shapes():
    report = _report()
    rows = report.summary().splitlines()[1 : 1 + len(SHAPES)]
    shapes, differences, verdicts = set(), set(), set()
    for row, b in zip(rows, report.blocks, strict=True):
        shapes.add(row.index(str(b.shape)))
        differences.add(row.index(f"{b.relative_difference:.2e}"))
        verdicts.add(row.index(b.verdict, row.index(f"{b.relative_difference:.2e}")))
    assert len(shapes) == len(differences) == len(verdicts) == 1, "\n".join(rows)


def test_summary_of_a_correct_report_has_one_row_per_block():
    report = _report(bug=None)
    rows = report.summary().splitlines()[1:]
    assert [r.split()[1] for r in rows] == ["dW1", "db1", "dW10", "db10"]
    assert all(r.rstrip().endswith("correct") for r in rows)


def test_the_headline_of_an_unchecked_block_reads_without_nested_parentheses():
    rng = np.random.default_rng(0)
    params = {"W1": rng.normal(size=(3, 2)), "b1": rng.normal(size=(3, 1))}
    grads = {"d" + k: v.copy() for k, v in params.items()}
    kinks = np.zeros(9, bool)
    kinks[6:] = True  # every entry of b1

    def cost(p):
        return float(sum(np.sum(v**2) / 2 for v in p.values()))

    head = check_gradients(cost, params, grads, kinks=kinks).headline()
    assert head.startswith(
        "Gradient check: UNCHECKED — the verdict of its worst block, db1, which was not "
        "checked: every entry crossed a kink; all blocks together "
    ), head
