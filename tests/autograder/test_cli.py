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


def test_without_bubblewrap_autograde_refuses_in_one_clear_line(capsys, tmp_path, monkeypatch):
    from autograder import sandbox

    monkeypatch.setenv("GRADKIT_SECRET", "s")
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    (tmp_path / "submitted").mkdir()
    code, out = _run(capsys, "autograde", "04-backprop", "--course-dir", str(tmp_path))
    assert code == 2 and "apt-get install bubblewrap" in out.err and "--no-sandbox" in out.err
    assert "Traceback" not in out.err
    code, out = _run(capsys, "autograde", "04-backprop", "--course-dir", str(tmp_path),
                     "--no-sandbox")  # fmt: skip
    assert code == 0 and "graded 0" in out.out  # the TA accepted the risk: no refusal


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


def test_the_course_config_file_is_written_once_and_honoured(tmp_path):
    from autograder.course import (
        BLOCK_START,
        CONFIG_FILE,
        course_settings,
        nbgrader_config,
        write_config_file,
    )

    write_config_file(tmp_path)
    path = tmp_path / CONFIG_FILE
    assert "c.Execute.timeout = 30" in path.read_text()
    edits = (
        "c.GradkitExecute.memory_limit_mb = 512\nc.Execute.timeout = 7\n"
        "c.CourseDirectory.db_url = 'sqlite:////x/gb.db'\n"
    )
    before, block = path.read_text().split(BLOCK_START)
    path.write_text(before + edits + BLOCK_START + block)  # the TA's lines, above the block
    assert write_config_file(tmp_path) == ""  # a TA's edits are kept
    settings = course_settings(tmp_path)
    assert settings["GradkitExecute"] == {"memory_limit_mb": 512}
    config = nbgrader_config(tmp_path, settings=settings)
    assert config.Execute.timeout == 7 and config.GradkitExecute.memory_limit_mb == 512
    assert config.CourseDirectory.db_url == "sqlite:////x/gb.db"
    assert nbgrader_config(tmp_path, timeout=3, settings=settings).Execute.timeout == 3
