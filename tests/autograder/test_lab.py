"""`gradkit lab`: does a student get their own copy of the release, never overwritten, and
a JupyterLab without nbgrader's instructor tools but with its Validate button?"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from autograder import cli, lab
from autograder.course import RELEASE


def _release(tmp_path: Path, text: str = "v1") -> Path:
    """A release of two assignments, one notebook each (content: ``text``)."""
    release = tmp_path / "release"
    for name in ("01-a", "02-b"):
        (release / name).mkdir(parents=True, exist_ok=True)
        (release / name / f"{name}.ipynb").write_text(f'{{"{name}": "{text}"}}')
    (release / "01-a" / ".ipynb_checkpoints").mkdir(exist_ok=True)
    (release / "01-a" / ".ipynb_checkpoints" / "01-a-checkpoint.ipynb").write_text("{}")
    return release


def test_the_release_is_copied_once_into_the_workspace(tmp_path):
    release, ws = _release(tmp_path), tmp_path / "ws"
    done = lab.prepare(ws, release)
    assert sorted(done.copied) == ["01-a/01-a.ipynb", "02-b/02-b.ipynb"]
    assert (ws / "01-a" / "01-a.ipynb").read_text() == '{"01-a": "v1"}'
    assert not (ws / "01-a" / ".ipynb_checkpoints").exists()  # Jupyter's own, not the release
    assert done.lines() == [f"copied 2 release files into {ws.resolve()}"]
    again = lab.prepare(ws, release)
    assert again.copied == [] and again.beside == {} and len(again.kept) == 2
    assert again.lines() == [f"your workspace {ws.resolve()} is up to date with the release"]


def test_the_real_release_is_copied(tmp_path):
    done = lab.prepare(tmp_path / "ws", RELEASE)
    assert "04-backprop/04-backprop.ipynb" in done.copied
    assert (tmp_path / "ws/04-backprop/04-backprop.ipynb").read_bytes() == (
        RELEASE / "04-backprop/04-backprop.ipynb"
    ).read_bytes()


def test_a_students_notebook_is_never_overwritten_and_a_new_release_goes_beside_it(tmp_path):
    ws = tmp_path / "ws"
    lab.prepare(ws, _release(tmp_path, "v1"))
    mine = ws / "01-a" / "01-a.ipynb"
    mine.write_text("my work")
    (ws / "02-b" / "02-b.ipynb").unlink()  # deleted by the student: copied again
    assert lab.prepare(ws, _release(tmp_path, "v1")).copied == ["02-b/02-b.ipynb"]
    assert mine.read_text() == "my work"  # same release: nothing offered

    done = lab.prepare(ws, _release(tmp_path, "v2"))
    assert mine.read_text() == "my work"
    beside = done.beside["01-a/01-a.ipynb"]
    assert re.fullmatch(r"01-a/01-a\.release-[0-9a-f]{8}\.ipynb", beside)
    assert (ws / beside).read_text() == '{"01-a": "v2"}'
    assert any("new release of 01-a/01-a.ipynb is beside it" in line for line in done.lines())
    # 02-b was never changed by the student, yet it is theirs: it is not replaced either
    assert (ws / "02-b" / "02-b.ipynb").read_text() == '{"02-b": "v1"}'
    assert "02-b/02-b.ipynb" in done.beside
    # told once: the next run has nothing new to say, and writes nothing over the copy
    (ws / beside).write_text("opened by the student")
    again = lab.prepare(ws, _release(tmp_path, "v2"))
    assert again.beside == {} and (ws / beside).read_text() == "opened by the student"


def test_a_workspace_made_by_hand_keeps_its_files(tmp_path):
    ws = tmp_path / "ws"
    (ws / "01-a").mkdir(parents=True)
    (ws / "01-a" / "01-a.ipynb").write_text("started before gradkit lab")
    done = lab.prepare(ws, _release(tmp_path))
    assert (ws / "01-a" / "01-a.ipynb").read_text() == "started before gradkit lab"
    assert "01-a/01-a.ipynb" in done.beside and done.copied == ["02-b/02-b.ipynb"]


def test_allow_root_only_as_root(tmp_path):
    assert "--allow-root" in lab.command(tmp_path, euid=0)
    assert "--allow-root" not in lab.command(tmp_path, euid=1000)


def test_the_session_disables_the_instructor_tools_and_keeps_validate(tmp_path):
    cmd = lab.command(tmp_path, port=8123, browser=False, euid=1000)
    assert cmd[1:4] == ["-m", "jupyter", "lab"] and f"--ServerApp.root_dir={tmp_path}" in cmd
    assert "--ServerApp.port=8123" in cmd and "--no-browser" in cmd
    for ext in ("formgrader", "course_list"):
        assert f"--ServerApp.jpserver_extensions=nbgrader.server_extensions.{ext}=False" in cmd
    assert not any("validate_assignment" in a or "assignment_list" in a for a in cmd)
    assert "--LabApp.news_url=None" in cmd
    disabled = lab.page_config()["disabledExtensions"]
    for plugin in ("formgrader", "create-assignment", "course-list", "menu"):
        assert disabled[f"@jupyter/nbgrader:{plugin}"] is True
    assert disabled["@jupyterlab/apputils-extension:announcements"] is True  # news toast
    assert "@jupyter/nbgrader:validate-assignment" not in disabled
    assert "@jupyter/nbgrader:assignment-list" not in disabled
    # session-only: its config folder goes first on JUPYTER_CONFIG_PATH, nothing else moves
    env = lab.session_env(tmp_path / "session", {"JUPYTER_CONFIG_PATH": "/theirs", "HOME": "/h"})
    assert env == {"JUPYTER_CONFIG_PATH": f"{tmp_path / 'session'}{os.pathsep}/theirs",
                   "HOME": "/h"}  # fmt: skip


def test_dry_run_says_what_it_would_run_and_does_nothing(capsys, tmp_path):
    ws = tmp_path / "ws"
    assert cli.main(["lab", "--dry-run", "--dir", str(ws), "--port", "8123", "--no-browser"]) == 0
    out = capsys.readouterr().out
    assert not ws.exists()
    assert "@jupyter/nbgrader:create-assignment" in out and "validate-assignment" not in out
    assert "jupyter lab" in out and "--ServerApp.port=8123" in out and "--no-browser" in out
    assert ("--allow-root" in out) == (os.geteuid() == 0)


def test_the_default_workspace_is_in_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert lab.default_workspace() == tmp_path / "gradcheck-course"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


@pytest.mark.slow
def test_a_real_session_serves_no_instructor_tools(tmp_path):
    port, token, ws = _free_port(), "gradkit-lab-test-token", tmp_path / "ws"
    home = tmp_path / "home"  # JupyterLab's own user files go here, not to the tester's
    env = {**os.environ, "JUPYTER_TOKEN": token, "HOME": str(home),
           "JUPYTER_CONFIG_DIR": str(home / ".jupyter")}  # fmt: skip
    cmd = [sys.executable, "-m", "autograder.cli", "lab", "--no-browser", "--dir", str(ws),
           "--port", str(port), "--", "--ServerApp.ip=127.0.0.1"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 45
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                status, body = _get(f"{base}/api/status?token={token}")
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "JupyterLab did not answer within 45 s"
            time.sleep(0.5)
        assert json.loads(body)["started"]
        status, page = _get(f"{base}/lab?token={token}")
        assert status == 200
        config = json.loads(
            re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S).group(1)
        )
        disabled = config["disabledExtensions"]
        assert "@jupyter/nbgrader:formgrader" in disabled
        assert "@jupyter/nbgrader:create-assignment" in disabled
        assert "@jupyter/nbgrader:validate-assignment" not in disabled
        assert config["news"] == {"disabled": True}
        assert _get(f"{base}/formgrader?token={token}")[0] == 404  # its server side is off
        status, version = _get(f"{base}/nbgrader_version?version=0&token={token}")
        assert status == 200  # validate_assignment's server side answers
        assert (ws / "04-backprop" / "04-backprop.ipynb").is_file()
        assert not (home / ".jupyter" / "labconfig").exists()  # the user's config untouched
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert f"copied 5 release files into {ws}" in out.decode()
