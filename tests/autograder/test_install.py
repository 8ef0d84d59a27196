"""Does `pip install .` give a kit that works away from the checkout?

The wheel is built from a copy of the sources, offline, and installed into a fresh venv
that holds the project venv's dependencies (hard-linked, so nothing is downloaded) but
not the kit: gradlib, autograder and the notebooks can only come from the wheel. Then the
installed `gradkit demo` grades the demo class from a folder outside the checkout.
"""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from autograder import demo
from autograder.sandbox import bwrap

pytestmark = pytest.mark.slow
CHECKOUT = Path(__file__).resolve().parents[2]
KIT = ("autograder", "gradlib")
JUNK = (".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis")
OFFLINE = ["--quiet", "--no-deps", "--no-index"]  # pip: nothing fetched, nothing resolved
needs_bwrap = pytest.mark.skipif(not bwrap(), reason="grading needs bubblewrap")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the checkout (the build leaves nothing behind)."""
    tmp = tmp_path_factory.mktemp("build")
    src, dist = tmp / "src", tmp / "dist"
    shutil.copytree(CHECKOUT, src, ignore=shutil.ignore_patterns(*JUNK))
    pip = [sys.executable, "-m", "pip", "wheel", *OFFLINE, "--no-build-isolation"]
    subprocess.run([*pip, str(src), "-w", str(dist)], check=True)
    (built,) = dist.glob("gradcheck_kit-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A venv with the kit installed from the wheel alone, and its dependencies."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    clone_without_kit(Path(sys.prefix), venv)
    pip = [venv / "bin" / "python", "-m", "pip", "install", *OFFLINE]
    subprocess.run([*pip, str(wheel)], check=True)
    return venv


def clone_without_kit(prefix: Path, dest: Path) -> None:
    """Copy the venv at ``prefix`` to ``dest`` (hard links where the disk allows), leaving
    out the kit's own install (editable or not), with its scripts pointing at ``dest``."""
    site = Path(sysconfig.get_path("purelib"))

    def leave_out(folder, names):
        if Path(folder) == site:
            return [n for n in names if n in KIT or "gradcheck_kit" in n]
        return names if Path(folder) == prefix / "bin" else []

    shutil.copytree(prefix, dest, symlinks=True, ignore=leave_out, copy_function=_link)
    old, new = f"#!{prefix / 'bin'}/".encode(), f"#!{dest / 'bin'}/".encode()
    for script in (prefix / "bin").iterdir():
        target = dest / "bin" / script.name
        if script.is_symlink():  # python, python3: the base interpreter
            target.symlink_to(os.readlink(script))
        elif script.name != "gradkit":  # that one comes from the wheel
            target.write_bytes(script.read_bytes().replace(old, new, 1))
            target.chmod(script.stat().st_mode)


def _link(src, dest) -> None:
    try:
        os.link(src, dest)
    except OSError:  # another file system: copy
        shutil.copy2(src, dest)


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """A command of the installed kit, as a TA would run it: not from the checkout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "GRADKIT_SECRET")
    }
    own_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != own_bin)
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_wheel_holds_every_module_the_notebooks_and_the_license(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {
        p.relative_to(CHECKOUT).as_posix()
        for package in KIT
        for p in (CHECKOUT / package).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert {"autograder/assignments/backprop.py", "autograder/preprocessors/execute.py"} <= modules
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"
    for folder in ("solutions", "course"):
        notebooks = {
            p.relative_to(CHECKOUT).as_posix() for p in (CHECKOUT / folder).glob("*/*.ipynb")
        }
        shipped = {
            n.removeprefix("autograder/notebooks/")
            for n in names
            if n.startswith(f"autograder/notebooks/{folder}/")
        }
        assert len(notebooks) == 5 and shipped == notebooks, folder
    license_files = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert (
        license_files and "BSD 3-Clause" in zipfile.ZipFile(wheel).read(license_files[0]).decode()
    )


def test_the_installed_kit_comes_from_the_wheel_not_the_checkout(venv, tmp_path):
    probe = (
        "import autograder, gradlib, autograder.course as c\n"
        "for p in (autograder.__file__, gradlib.__file__, c.SOLUTIONS, c.RELEASE): print(p)\n"
        "print(*c.assignments())"
    )
    out = run(venv, "python", "-c", probe, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    *paths, names = out.stdout.splitlines()
    for path in map(Path, paths):
        assert path.is_relative_to(venv.resolve()), path
        assert not path.is_relative_to(CHECKOUT), path
    assert names.split() == sorted(p.name for p in (CHECKOUT / "solutions").iterdir())
    assert run(venv, "gradkit", "--help", cwd=tmp_path).returncode == 0


@needs_bwrap
def test_a_sandboxed_kernel_cannot_see_the_solutions_shipped_in_the_venv(venv, tmp_path):
    """The wheel puts solutions/ inside the venv, which a kernel sees: it is shown empty."""
    code = """import subprocess, sys
from autograder.course import RELEASE, SOLUTIONS
from autograder.sandbox import Limits, command
look = "import os, sys; print([sorted(os.listdir(p)) for p in sys.argv[1:]])"
subprocess.run(command([sys.executable, "-c", look, str(SOLUTIONS), str(RELEASE)], Limits(),
                       log=sys.argv[1]), check=True)
"""
    out = run(venv, "python", "-c", code, str(tmp_path / "kernel.log"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    seen = (tmp_path / "kernel.log").read_text()
    release = sorted(p.name for p in (CHECKOUT / "course").iterdir())
    assert seen.strip() == repr([[], release]), seen


@needs_bwrap
def test_gradkit_demo_grades_the_class_outside_the_checkout(venv, tmp_path):
    course = tmp_path / "class"
    out = run(venv, "gradkit", "demo", "--course-dir", str(course), cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    runs = re.findall(r"^graded (\d+), failed (\d+)", text, re.M)
    assert [int(g) for g, _ in runs] == [9 if a == demo.ASSIGNMENT else 2 for a in _names()]
    assert all(f == "0" for _, f in runs), text
    # Student x assignment totals (the first row of each name): solutions earn every point of
    # every assignment, the untouched release none.
    ada, blank = (re.findall(r"(\S+)/(\S+)", _row(text, name)) for name in ("ada", "blank"))
    assert len(ada) == len(blank) == len(_names()) == 5
    assert all(got == most for got, most in ada) and all(float(got) == 0 for got, _ in blank)
    for student in demo.STUDENTS:  # the 04-backprop table: each student gets what they deserve
        row = _row(text, student.name, ends=("✓", "MISMATCH"))
        assert row.endswith("✓"), (student.story, row)


def _row(text: str, student: str, ends: tuple[str, ...] = ("",)) -> str:
    """The first line of the demo's output about ``student`` that ends with one of ``ends``."""
    rows = text.splitlines()
    return next(r for r in rows if r.startswith(f"{student:<10}") and r.endswith(ends))


def _names() -> list[str]:
    return sorted(p.name for p in (CHECKOUT / "solutions").iterdir() if p.is_dir())
