"""The TA's rows: are the grader's own lines read as the right kind of problem, does the
printed table stay short for a large class, and does the ledger survive a kill?"""

import json

from autograder.autograde import needs_grading
from autograder.ingest import Intake
from autograder.ledger import Ledger, fingerprint
from autograder.outcomes import Outcome, notebook_problems, table

# Lines as the grader writes them (autograder.grading, callbox, tasks, preprocessors.execute).
LINES = [
    "✓ dW1: relative difference 2.1e-11 (correct)",
    "✗ L_model_backward did not finish within 30 s.",
    "✗ 0 points for L_model_backward: L_model_backward uses the reference gradient "
    "(gradlib.nn.network_gradients). Shortcuts earn nothing; write the computation yourself.",
    "✗ L_model_backward could not be graded: the grading process died (os._exit, a crash, or "
    "a sandbox limit: memory 2048 MB).",
    "✗ 0 points: on a larger network (147,841 parameters), which backprop answers in well "
    "under a second and numeric differentiation cannot within 3 s, L_model_backward did not "
    "finish within 3 s.",
    "(notebook cell(s) 4 hung or ended the grading process and were left out when your "
    "functions were defined)",
]
STOPPED = ("cell 7 did not finish within 30 s; the kernel was stopped; nothing after it "
           "could run")  # fmt: skip


def _notebook() -> dict:
    return {
        "metadata": {"gradkit": {"restored": [
            {"cell": "test_backward", "kind": "tampered", "text": "test_backward points 100 → 6"}
        ]}},  # fmt: skip
        "cells": [
            {"cell_type": "code", "metadata": {}, "source": "",
             "outputs": [{"output_type": "error", "ename": "Stopped", "evalue": STOPPED,
                          "traceback": [f"Stopped: {STOPPED}"]}]},
            {"cell_type": "code", "source": "", "outputs": [],
             "metadata": {"nbgrader": {"grade_id": "test_backward"},
                          "gradkit": {"lines": LINES, "points": 0.0}}},
        ],
    }  # fmt: skip


def test_the_graders_lines_become_one_problem_each():
    assert notebook_problems(_notebook()) == [
        "tampered: test_backward points 100 → 6",
        "timeout: cell 7 did not finish within 30 s",
        "timeout: L_model_backward did not finish within 30 s",
        "shortcut: 0 points for L_model_backward: L_model_backward uses the reference gradient "
        "(gradlib.nn.network_gradients)",
        "process died: L_model_backward could not be graded: the grading process died",
        "timeout: L_model_backward did not finish within 3 s",
        "left out: notebook cell(s) 4 hung or ended the grading process",
    ]


def test_an_honest_notebook_has_no_problem():
    nb = _notebook()
    nb["metadata"]["gradkit"]["restored"] = []
    nb["cells"] = nb["cells"][1:]
    nb["cells"][0]["metadata"]["gradkit"]["lines"] = LINES[:1]
    assert notebook_problems(nb) == []


def test_the_table_of_two_thousand_students_stays_short():
    rows = [Outcome(f"s{k:04d}", "graded", 18.0, 18.0, []) for k in range(2000)]
    for k in range(0, 2000, 10):
        rows[k].problems = ["timeout: cell 3 did not finish within 30 s"]
    for k in range(0, 2000, 500):
        rows[k] = Outcome(rows[k].student, "failed", None, 18.0, ["FAILED: x.ipynb is not a "
                          "valid notebook (NotJSONError)"])  # fmt: skip
    text = table(rows, limit=20)
    lines = text.splitlines()
    assert len(lines) == 1 + 20 + 2  # header, 20 rows, "… and N more", the counts
    assert lines[0].split() == ["student", "points", "problems"]
    assert "s0000" in lines[1] and "FAILED: x.ipynb" in lines[1]
    assert lines[-2].strip() == "… and 180 more with problems"
    assert lines[-1].strip() == "1800 of 2000 without problems; students with timeout 196, FAILED 4"


def test_a_small_class_shows_every_row_and_one_line_per_kind_of_problem():
    problems = ["tampered: a", "shortcut: b", "tampered: c"]
    rows = [Outcome("ada", "graded", 18.0, 18.0), Outcome("carol", "graded", 12.0, 18.0, problems)]
    lines = table(rows).splitlines()
    assert lines[1].split() == ["ada", "18/18", "–"]
    assert lines[2].split(None, 2) == ["carol", "12/18", "tampered: a, c"]
    assert lines[3].strip() == "shortcut: b" and lines[3].startswith(" " * 10)


def test_the_ledger_keeps_the_last_word_and_ignores_a_line_cut_by_a_kill(tmp_path):
    ledger = Ledger(tmp_path, "04-backprop")
    ledger.graded("ada", "a" * 64, ["timeout: cell 3"])
    ledger.failed("ada", "worker failed: OSError", True, "b" * 64)
    ledger.graded("bob", "c" * 64, [])
    with ledger.path.open("a") as f:
        f.write('{"student": "carol", "sha2')  # a kill, mid-line
    again = Ledger(tmp_path, "04-backprop")
    assert set(again.entries) == {"ada", "bob"}
    ada = again.entries["ada"]
    assert (ada.sha256, ada.failed, ada.grader_error) == ("a" * 64, "worker failed: OSError", True)
    again.compact()
    lines = ledger.path.read_text().splitlines()
    assert [json.loads(line)["student"] for line in lines] == ["ada", "bob"]


def test_a_replaced_submission_without_timestamp_is_graded_again(tmp_path):
    graded = tmp_path / "autograded" / "ada" / "04-backprop"
    graded.mkdir(parents=True)
    old, new = Intake({"nb.ipynb": b"old"}), Intake({"nb.ipynb": b"new"})
    ledger = Ledger(tmp_path, "04-backprop")
    ledger.graded("ada", fingerprint(old.files), [])
    assert not needs_grading(tmp_path, "04-backprop", old, "ada", {"ada"}, ledger)
    assert needs_grading(tmp_path, "04-backprop", new, "ada", {"ada"}, ledger)
    # Without a fingerprint (graded before the ledger): nbgrader's rule, by timestamp only.
    assert not needs_grading(tmp_path, "04-backprop", new, "ada", {"ada"}, Ledger(tmp_path, "x"))
