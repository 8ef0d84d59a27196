"""`gradkit lab`: a student's own copy of the release, opened in a JupyterLab for students.

The release notebooks (course/ of a checkout, or the ones shipped in the wheel) are copied
once into a workspace folder of the student's (``~/gradcheck-course`` unless told
otherwise). A notebook already there is the student's and is never written again: when
the release changes, the new one is put beside it as ``NAME.release-HASH.ipynb`` and a
line says so. ``WORKSPACE/.gradkit-release.json`` remembers which release each file was
copied from, so an unchanged release is not offered again.

JupyterLab is started for that session only (a private config folder first in
JUPYTER_CONFIG_PATH, removed afterwards; the user's own config is never edited) without
nbgrader's instructor tools (formgrader, Create Assignment, the course list and its menu)
and without JupyterLab's news; nbgrader's Validate button stays.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import RELEASE

DEFAULT_WORKSPACE = "~/gradcheck-course"
MANIFEST = ".gradkit-release.json"

# nbgrader's parts a student has no use for. Its lab plugins are named in its docs
# ("jupyter labextension disable @jupyter/nbgrader:formgrader"); the menu only opens them.
INSTRUCTOR_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:menu",
)
INSTRUCTOR_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
)
KEPT_PLUGIN = "@jupyter/nbgrader:validate-assignment"  # the Validate button
KEPT_SERVER_EXTENSION = "nbgrader.server_extensions.validate_assignment"
QUIET_PLUGINS = ("@jupyterlab/apputils-extension:announcements",)  # the news toast
QUIET_OPTIONS = (
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
)


@dataclass
class Workspace:
    """What ``prepare`` did to a workspace: paths relative to it."""

    folder: Path
    copied: list[str] = field(default_factory=list)  # new in the workspace
    beside: dict[str, str] = field(default_factory=dict)  # student's file -> new release
    kept: list[str] = field(default_factory=list)  # already there, release unchanged

    def lines(self) -> list[str]:
        """What the student is told, a line each."""
        lines = []
        if self.copied:
            lines.append(f"copied {len(self.copied)} release files into {self.folder}")
        for mine, new in sorted(self.beside.items()):
            lines.append(f"a new release of {mine} is beside it as {new}: your notebook is "
                         "unchanged; copy what you need from the new one")  # fmt: skip
        if not self.copied and not self.beside:
            lines.append(f"your workspace {self.folder} is up to date with the release")
        return lines


def default_workspace() -> Path:
    return Path(DEFAULT_WORKSPACE).expanduser()


def release_files(release: Path = RELEASE) -> dict[str, Path]:
    """Relative path -> file, for every regular file of every assignment in ``release``."""
    if not release.is_dir():
        raise FileNotFoundError(f"no release notebooks at {release}: run `gradkit generate`")
    found = {}
    for path in sorted(release.rglob("*")):
        rel = path.relative_to(release)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue  # .ipynb_checkpoints and the like
        if not path.is_symlink():
            found[rel.as_posix()] = path
    return found


def prepare(folder: Path | None = None, release: Path = RELEASE) -> Workspace:
    """Copy what is new in ``release`` into ``folder``; never overwrite a file there.

    A file the student has (changed or not) stays as it is. When the release has changed
    since it was copied, the new release goes beside it as ``NAME.release-HASH.SUFFIX``.
    """
    folder = Path(folder).expanduser() if folder else default_workspace()
    folder.mkdir(parents=True, exist_ok=True)
    done = Workspace(folder.resolve())
    manifest = _read_manifest(folder)
    for rel, source in release_files(release).items():
        data = source.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        target = folder / rel
        if _create(target, data):
            done.copied.append(rel)
        elif manifest.get(rel) == digest or _same(target, data):
            done.kept.append(rel)
        else:  # a new release, and the student's file is theirs
            name = f"{target.stem}.release-{digest[:8]}{target.suffix}"
            _create(target.with_name(name), data)  # there already: offered before
            done.beside[rel] = str(Path(rel).with_name(name))
        manifest[rel] = digest
    _write_manifest(folder, manifest)
    return done


def _create(path: Path, data: bytes) -> bool:
    """Write a new file; False, untouched, if anything is at ``path`` already."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return True


def _same(path: Path, data: bytes) -> bool:
    try:
        return path.is_file() and path.read_bytes() == data
    except OSError:
        return False


def _read_manifest(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_manifest(folder: Path, manifest: dict[str, str]) -> None:
    tmp = folder / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, folder / MANIFEST)


def page_config() -> dict:
    """The session's labconfig/page_config.json: the plugins a student does not get."""
    return {"disabledExtensions": {name: True for name in INSTRUCTOR_PLUGINS + QUIET_PLUGINS}}


def command(folder: Path, *, port: int | None = None, browser: bool = True,
            extra: list[str] | None = None, euid: int | None = None) -> list[str]:  # fmt: skip
    """The `jupyter lab` command line for a student's session in ``folder``."""
    euid = os.geteuid() if euid is None else euid
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={folder}"]
    for name in INSTRUCTOR_SERVER_EXTENSIONS:
        cmd.append(f"--ServerApp.jpserver_extensions={name}=False")
    cmd += QUIET_OPTIONS
    if port is not None:
        cmd.append(f"--ServerApp.port={port}")
    if not browser:
        cmd.append("--no-browser")
    if euid == 0:  # JupyterLab refuses root without it
        cmd.append("--allow-root")
    return cmd + list(extra or [])


def write_session_config(config_dir: Path) -> Path:
    """Write the session's page config under ``config_dir``; returns the file."""
    path = config_dir / "labconfig" / "page_config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(page_config(), indent=1) + "\n")
    return path


def session_env(config_dir: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` with ``config_dir`` first in JUPYTER_CONFIG_PATH (it wins over the others)."""
    env = dict(os.environ if env is None else env)
    rest = env.get("JUPYTER_CONFIG_PATH")
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(config_dir), *([rest] if rest else [])])
    return env


def lab(folder: Path | None = None, *, port: int | None = None, browser: bool = True,
        extra: list[str] | None = None, dry_run: bool = False, say=print) -> int:  # fmt: skip
    """Prepare the workspace, then run JupyterLab on it until it stops; its exit code.

    ``dry_run`` prepares nothing and starts nothing: it says what would be run.
    """
    target = Path(folder).expanduser() if folder else default_workspace()
    if dry_run:
        say(f"workspace: {target} (release: {RELEASE})")
        say(f"page_config.json: {json.dumps(page_config())}")
        say("JUPYTER_CONFIG_PATH=<session dir>:$JUPYTER_CONFIG_PATH")
        say(" ".join(command(target, port=port, browser=browser, extra=extra)))
        return 0
    for line in prepare(target).lines():
        say(line)
    config_dir = Path(tempfile.mkdtemp(prefix="gradkit-lab-"))
    try:
        write_session_config(config_dir)
        cmd = command(target.resolve(), port=port, browser=browser, extra=extra)
        proc = subprocess.Popen(cmd, env=session_env(config_dir), cwd=target)
        # Ctrl-C is JupyterLab's to answer (it asks before it stops); this process waits.
        # Told to stop, it stops JupyterLab first: no server is left behind without it.
        handlers = {signal.SIGINT: lambda *_: None, signal.SIGTERM: lambda *_: proc.terminate(),
                    signal.SIGHUP: lambda *_: proc.terminate()}  # fmt: skip
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        try:
            return proc.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)
