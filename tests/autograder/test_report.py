"""What a TA reads out of the gradebook: rounded statistics and a histogram that separates
every total."""

import csv

import numpy as np
from matplotlib.image import imread

from autograder.report import Report, _histogram, histogram_bins


def test_every_whole_point_total_has_a_bar_of_its_own():
    edges = histogram_bins(18)
    for total in range(19):
        assert np.sum((edges[:-1] <= total) & (total < edges[1:])) == 1
    assert np.searchsorted(edges, 17) != np.searchsorted(edges, 18)
    assert len(histogram_bins(58)) - 1 <= 40


def test_statistics_are_rounded_and_five_assignments_make_a_readable_figure(tmp_path):
    questions = [(f"0{k}-a", "q", 3.0) for k in range(1, 6)]
    scores = {(f"s{i}", f"0{k}-a"): {"q": [1.0, 2.0, 2.0][i] / 3 * 3}
              for i in range(3) for k in range(1, 6)}  # fmt: skip
    scores[("s0", "01-a")] = {"q": 1 / 3}
    report = Report(questions, scores)
    mean = next(r for r in report.stats() if r[0] == "01-a")[3]
    assert mean == round((1 / 3 + 2 + 2) / 3, 3)
    path = tmp_path / "hist.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(report.stats())
    assert all(len(v.split(".")[-1]) <= 3 for row in csv.reader(path.open()) for v in row[2:])
    image = imread(_histogram(report, tmp_path / "h.png"))
    height, width = image.shape[:2]
    assert width <= 1600 and height >= 500  # two rows of three, not a 2500×350 strip


def _class() -> Report:
    questions = [("04-backprop", "q1", 12.0), ("04-backprop", "q2", 6.0), ("03-gc", "q", 10.0)]
    scores = {("ada", "04-backprop"): {"q1": 12.0, "q2": 6.0}, ("ada", "03-gc"): {"q": 7.5},
              ("bo", "04-backprop"): {"q1": 6.0, "q2": 0.0}}  # fmt: skip
    return Report(questions, scores, penalties={("bo", "04-backprop"): 6.0})


def test_a_canvas_import_file_in_canvas_layout_with_the_roster_mapping_ids(tmp_path):
    from autograder.canvas import IDENTITY, write_canvas

    roster = tmp_path / "export.csv"
    roster.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (5)\n"
        "    Points Possible,,,,,5\n"
        '"Lovelace, Ada",101,u101,ada,Sec A,5\n'
        '"Bo, Bo",102,u102,bo.b,Sec A,4\n'
    )
    out = tmp_path / "canvas.csv"
    assert write_canvas(_class(), out, roster) == ["bo"]  # "bo" is bo.b in Canvas: no match
    rows = list(csv.reader(out.open()))
    assert rows[0] == [*IDENTITY, "03-gc", "04-backprop"]
    assert rows[1] == ["Points Possible", "", "", "", "", "10", "18"]
    assert rows[2:] == [["Lovelace, Ada", "101", "u101", "ada", "Sec A", "7.5", "18"]]
    roster.write_text(  # the TA adds a gradkit_id column where the ids differ
        "Student,ID,SIS User ID,SIS Login ID,Section,gradkit_id\n"
        '"Lovelace, Ada",101,u101,ada,Sec A,\n'
        '"Bo, Bo",102,u102,bo.b,Sec A,bo\n'
    )
    assert write_canvas(_class(), out, roster) == []
    rows = list(csv.reader(out.open()))
    assert rows[3] == ["Bo, Bo", "102", "u102", "bo.b", "Sec A", "", "0"]  # late: 6 - 6


def test_without_a_roster_the_nbgrader_id_is_the_sis_login_id(tmp_path):
    from autograder.canvas import write_canvas

    out = tmp_path / "canvas.csv"
    assert write_canvas(_class(), out) == []
    rows = list(csv.reader(out.open()))
    assert rows[2][:5] == ["ada", "", "", "ada", ""] and rows[3][3] == "bo"


def test_a_roster_that_is_not_a_canvas_export_is_one_clear_error(tmp_path):
    import pytest

    from autograder.canvas import write_canvas
    from autograder.course import CourseError

    roster = tmp_path / "names.csv"
    roster.write_text("name,email\nada,a@x\n")
    with pytest.raises(CourseError, match="not a Canvas gradebook export"):
        write_canvas(_class(), tmp_path / "canvas.csv", roster)
