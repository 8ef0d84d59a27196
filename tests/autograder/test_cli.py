"""Is `gradkit` a thin CLI whose errors say what was wrong and what to do?"""

import subprocess

import pytest

from autograder import cli
from autograder.course import RELEASE


def _run(capsys, *argv):
    code = cli.main(list(argv))
    return code, capsys.readouterr()


def test_unknown_assignment(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADKIT_SECRET", "s")
    code, out = _run(capsys, "autograde", "99-nope", "--course-dir", str(tmp_path))
    assert code == 2 and "no assignment '99-nope'" in out.err and "04-backprop" in out.err


def test_missing_secret(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("GRADKIT_SECRET", raising=False)
    code, out = _run(capsys, "autograde", "04-backprop", "--course-dir", str(tmp_path))
    assert code == 2 and "GRADKIT_SECRET" in out.err


def test_missing_submissions(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADKIT_SECRET", "s")
    code, out = _run(capsys, "autograde", "04-backprop", "--course-dir", str(tmp_path))
    assert code == 2 and "no submitted/ folder" in out.err and "STUDENT/04-backprop" in out.err


def test_report_without_gradebook(capsys, tmp_path):
    code, out = _run(capsys, "report", "--course-dir", str(tmp_path))
    assert code == 2 and "no gradebook" in out.err and "gradkit autograde" in out.err


def test_lab_opens_jupyterlab_on_the_course(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    assert cli.main(["lab"]) == 0
    assert calls[0][-3:] == ["jupyter", "lab", str(RELEASE)]


def test_every_design_command_exists():
    for command in ("generate", "autograde", "feedback", "report", "demo", "lab"):
        with pytest.raises(SystemExit) as exit_:
            cli.main([command, "--help"])
        assert exit_.value.code == 0
