"""For every assignment: do the solutions run clean, earn full marks, and the release earn 0?"""

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import demo
from autograder.assignments import registry, tasks_for
from autograder.autograde import autograde
from autograder.course import RELEASE, SOLUTIONS, assignments
from autograder.report import collect

pytestmark = pytest.mark.slow
SECRET = "assignments-test-secret"


@pytest.mark.parametrize("name", assignments())
def test_solution_notebook_runs_top_to_bottom_with_every_test_passing(name, tmp_path, monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # as in JupyterLab: ipykernel's inline
    for path in sorted((SOLUTIONS / name).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=120, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
        client.execute()  # raises CellExecutionError on the first failing cell
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                  if o.output_type == "error" or o.get("name") == "stderr"]  # fmt: skip
        assert not errors, f"{path.name}: {errors[0]}"
        # every figure is drawn, none shown as its repr ("<Figure size 1500x450 with 1 Axes>")
        shown = [o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [d for d in shown if "<Figure" in str(d.get("text/plain", ""))
                    and "image/png" not in d], f"{path.name}: a figure shown as text"  # fmt: skip


@pytest.mark.parametrize("name", assignments())
def test_solutions_earn_full_marks_and_the_release_earns_zero(name, tmp_path):
    solved = demo.Student("solved", "the solutions", {})
    blank = demo.Student("blank", "the release as is", {}, blank=True)
    for student in (solved, blank):
        folder = tmp_path / "submitted" / student.name / name
        folder.mkdir(parents=True)
        nbformat.write(demo.submission(student, name), folder / f"{name}.ipynb")
    summary = autograde(name, tmp_path, workers=2, secret=SECRET)
    assert sorted(summary.graded) == ["blank", "solved"], summary.text()
    report = collect(f"sqlite:///{tmp_path / 'gradebook.db'}")
    limits = {q: most for a, q, most in report.questions if a == name}
    assert limits, "the assignment has no graded cells"
    assert report.scores[("solved", name)] == limits
    assert report.scores[("blank", name)] == dict.fromkeys(limits, 0.0)


def test_every_assignment_has_its_release_and_tasks():
    assert assignments() == sorted(p.name for p in RELEASE.iterdir() if p.is_dir())
    for name in assignments():
        assert tasks_for(name), f"{name} has no gradkit tasks"


def test_graded_function_names_are_unique_across_assignments():
    names = [t.function for tasks in registry().values() for t in tasks.values()]
    assert len(names) == len(set(names))


def test_provided_code_never_redefines_library_code():
    # Notebooks import gradlib/autograder; outside the students' answer cells, nothing
    # that the library offers is defined again (no rel_error in every notebook).
    import re

    import gradlib

    for path in SOLUTIONS.rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("solution"):
                continue
            defined = set(re.findall(r"^def (\w+)", cell.source, re.M))
            assert not defined & {*gradlib.__all__, "rel_error"}, (path.name, defined)
