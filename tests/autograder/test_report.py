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
