"""Is `gradkit` a thin CLI whose errors say what was wrong and what to do?"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import cli
from autograder.autograde import autograde


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
    assert "apt-get" not in out.err  # the TA accepted the risk: no refusal, on to the class
    assert code == 2 and "no submissions found under" in out.err


@pytest.mark.parametrize(
    "option",
    [["--workers", "0"], ["--workers", "-2"], ["--workers", "two"], ["--timeout", "0"],
     ["--timeout", "-1"]],
)  # fmt: skip
def test_bad_numbers_are_refused_in_one_line(capsys, tmp_path, option):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["autograde", "04-backprop", "--course-dir", str(tmp_path), *option])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.count("\n") == 1 and f"argument {option[0]}: " in err and option[1] in err
    assert "Traceback" not in err and "usage:" not in err


def test_bad_workers_through_the_installed_command(tmp_path):
    gradkit = Path(sys.executable).parent / "gradkit"
    run = subprocess.run([str(gradkit), "autograde", "04-backprop", "--workers", "0"],
                         capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr == (
        "gradkit autograde: argument --workers: must be at least 1, not 0 "
        "(see gradkit autograde --help)\n"
    )


def test_the_api_refuses_bad_numbers_too(tmp_path):
    with pytest.raises(ValueError, match="workers must be at least 1, not 0"):
        autograde("04-backprop", tmp_path, workers=0, secret="s")
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        autograde("04-backprop", tmp_path, timeout=-3, secret="s")


def test_no_submissions_of_the_assignment(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADKIT_SECRET", "s")
    (tmp_path / "submitted" / "ada" / "03-gradient-checking").mkdir(parents=True)
    code, out = _run(capsys, "autograde", "04-backprop", "--course-dir", str(tmp_path))
    assert code == 2 and out.out == ""
    assert f"no submissions found under {tmp_path / 'submitted'}/*/04-backprop" in out.err
    assert out.err.count("\n") == 1


def test_a_student_without_a_submission(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADKIT_SECRET", "s")
    for name in ("ada", "bob"):
        (tmp_path / "submitted" / name / "04-backprop").mkdir(parents=True)
    code, out = _run(capsys, "autograde", "04-backprop", "--course-dir", str(tmp_path),
                     "--student", "carol")  # fmt: skip
    assert code == 2 and "no submission of 04-backprop from 'carol'" in out.err
    assert "students with one: ada, bob" in out.err


def test_feedback_on_a_missing_course_dir(capsys, tmp_path):
    missing = tmp_path / "nowhere"
    code, out = _run(capsys, "feedback", "04-backprop", "--course-dir", str(missing))
    assert code == 2 and f"no course directory at {missing}" in out.err
    assert not missing.exists()


def test_feedback_on_an_unknown_assignment(capsys, tmp_path):
    code, out = _run(capsys, "feedback", "99-nope", "--course-dir", str(tmp_path))
    assert code == 2 and "no assignment '99-nope'" in out.err


def test_feedback_before_autograde(capsys, tmp_path):
    code, out = _run(capsys, "feedback", "04-backprop", "--course-dir", str(tmp_path))
    assert code == 2 and "nothing of 04-backprop is autograded" in out.err
    assert "gradkit autograde 04-backprop" in out.err and out.err.count("\n") == 1


def test_report_without_gradebook(capsys, tmp_path):
    code, out = _run(capsys, "report", "--course-dir", str(tmp_path))
    assert code == 2 and "no gradebook" in out.err and "gradkit autograde" in out.err


def test_lab_prepares_the_workspace_and_runs_jupyterlab_there(monkeypatch, tmp_path, capsys):
    from autograder import lab

    calls = []

    class Proc:
        def __init__(self, cmd, env, cwd):
            calls.append((cmd, env, Path(cwd)))

        def wait(self):
            return 0

    monkeypatch.setattr(lab.subprocess, "Popen", Proc)
    assert cli.main(["lab", "--dir", str(tmp_path / "ws"), "--", "--ServerApp.ip=0.0.0.0"]) == 0
    cmd, env, cwd = calls[0]
    assert cmd[1:4] == ["-m", "jupyter", "lab"] and cmd[-1] == "--ServerApp.ip=0.0.0.0"
    assert cwd == tmp_path / "ws" and (cwd / "04-backprop" / "04-backprop.ipynb").is_file()
    session = Path(env["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0])
    assert not session.exists()  # the session's config is gone with the session
    assert "copied" in capsys.readouterr().out


def test_every_design_command_exists():
    for command in ("generate", "autograde", "feedback", "report", "demo", "lab"):
        with pytest.raises(SystemExit) as exit_:
            cli.main([command, "--help"])
        assert exit_.value.code == 0


@pytest.mark.parametrize("verb", list(cli.VERBS))
def test_every_verb_says_what_it_does_reads_writes_and_an_example(capsys, verb):
    with pytest.raises(SystemExit) as exit_:
        cli.main([verb, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "reads:" in out and "writes:" in out
    example = out.split("example:\n", 1)[1].splitlines()[0].strip()
    assert re.search(rf"(^|\s)gradkit {verb}\b", example)
    assert cli.VERBS[verb][1].splitlines()[0] in out  # the description, unwrapped


def test_gradkit_alone_lists_every_verb_a_line_each(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    for verb, (summary, _, _) in cli.VERBS.items():
        assert re.search(rf"^  {verb} +{re.escape(summary)}$", out, re.M)
    verbs = set(cli.VERBS)
    assert verbs >= {"generate", "autograde", "feedback", "report", "demo", "lab"}


def test_gradkit_alone_through_the_installed_command():
    run = subprocess.run([str(Path(sys.executable).parent / "gradkit")], capture_output=True,
                         text=True)  # fmt: skip
    assert run.returncode == 0 and run.stderr == "" and "autograde" in run.stdout


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
