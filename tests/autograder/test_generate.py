"""Is course/ exactly what nbgrader generates from solutions/?"""

import filecmp

import nbformat

from autograder.course import RELEASE, SOLUTIONS, assignments
from autograder.generate import generate


def test_committed_release_equals_a_fresh_generation(tmp_path):
    generate(release_dir=tmp_path)
    for name in assignments():
        fresh = sorted(p.relative_to(tmp_path) for p in (tmp_path / name).rglob("*") if p.is_file())
        committed = sorted(
            p.relative_to(RELEASE) for p in (RELEASE / name).rglob("*") if p.is_file()
        )
        assert fresh == committed, f"course/{name} differs: run `gradkit generate`"
        for rel in fresh:
            assert filecmp.cmp(tmp_path / rel, RELEASE / rel, shallow=False), (
                f"course/{rel} differs from a fresh generation: run `gradkit generate`"
            )


def test_release_has_no_solutions_and_no_hidden_tests():
    for name in assignments():
        for path in (RELEASE / name).glob("*.ipynb"):
            text = path.read_text()
            assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
            nb = nbformat.read(path, as_version=4)
            answers = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
            assert answers and all("raise NotImplementedError()" in c.source for c in answers)


def test_solutions_store_no_outputs():
    for path in SOLUTIONS.rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path
