"""Where things live, and nbgrader's configuration for gradkit's pipeline.

The kit holds solutions/ (nbgrader source) and course/ (release): at the root of a
checkout, or inside the package when installed from a wheel (see kit_root). A TA's
course directory (submitted/, autograded/, feedback/, gradebook.db) lives anywhere else.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import sys
import warnings
from pathlib import Path

from traitlets.config import Config


def kit_root() -> Path:
    """The folder holding solutions/ and course/.

    A wheel ships them inside the package as autograder/notebooks/ (see setup.py); a
    checkout, and so an editable install, keeps them at the repository root.
    """
    package = Path(__file__).resolve().parent
    shipped = package / "notebooks"
    return shipped if shipped.is_dir() else package.parent


KIT = kit_root()
SOLUTIONS = KIT / "solutions"
RELEASE = KIT / "course"
CONFIG_FILE = "nbgrader_config.py"
STATE_DIR = ".gradkit"  # gradkit's own scratch space inside a course directory

EXECUTE = "autograder.preprocessors.GradkitExecute"
SANITIZE = [
    "nbgrader.preprocessors.ClearOutput",
    "autograder.preprocessors.DedupeCells",  # before DeduplicateIds, which keeps the last copy
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "autograder.preprocessors.RestoreCells",
    "nbgrader.preprocessors.OverwriteCells",
    "autograder.preprocessors.CheckCellMetadata",
]
AFTER_EXECUTE = [
    "autograder.preprocessors.SanitizeOutputs",  # the stored notebook is what formgrader renders
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "autograder.preprocessors.CheckCellMetadata",
]
# The steps of AFTER_EXECUTE that write the gradebook: a worker runs every other one on its
# private copy; the parent records what they would write (autograder.record).
GRADEBOOK_STEPS = (
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
)
FEEDBACK = [
    "autograder.preprocessors.SanitizeOutputs",  # again, for notebooks graded before it
    "nbgrader.preprocessors.GetGrades",
    "autograder.preprocessors.ScrubHiddenTracebacks",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

log = logging.getLogger("gradkit")
log.addHandler(logging.NullHandler())  # nbgrader's chatter stays quiet unless asked for


class CourseError(RuntimeError):
    """A course directory or assignment that gradkit cannot work with."""


def assignments() -> list[str]:
    """Assignment names in solutions/ (folders holding a notebook)."""
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def check_assignment(name: str) -> None:
    if name not in assignments():
        raise CourseError(
            f"no assignment {name!r} in {SOLUTIONS}; known: {', '.join(assignments())}."
        )


# Sections of the course's config that gradkit's workers get (a job carries no more).
TA_SECTIONS = ("Execute", "GradkitExecute", "LimitOutput", "IgnorePattern")


# The block gradkit keeps at the end of the course's nbgrader_config.py. Everything above it
# is the TA's (course_id, exchange, late penalties, timeouts, the database); the block only
# puts gradkit's pipeline in place, computed when nbgrader loads the file, so that moving or
# reinstalling the kit never leaves a stale path behind.
BLOCK_START = "# >>> gradkit >>>"
BLOCK_END = "# <<< gradkit <<<"
DEFAULT_COURSE_ID = "gradcheck"  # written for a database server when the course names none


def apply_gradkit(c: Config) -> Config:
    """Make ``c`` grade the gradkit way (what the course's nbgrader_config.py calls).

    Sets the source of the assignments (the kit's solutions/), where they are generated,
    and nbgrader's preprocessors; leaves every other setting of the TA's as it is.
    """
    c.CourseDirectory.source_directory = str(SOLUTIONS)
    c.CourseDirectory.release_directory = os.path.join(STATE_DIR, "release")  # in the root
    c.Autograde.sanitize_preprocessors = SANITIZE
    c.OverwriteCells.add_missing_cells = True  # a deleted test cell comes back, and is graded
    c.Autograde.autograde_preprocessors = [EXECUTE, *AFTER_EXECUTE]
    c.GenerateFeedback.preprocessors = FEEDBACK
    return c


def load_course_config(course_dir: Path) -> Config:
    """The course's nbgrader_config.py as nbgrader loads it (an empty Config without one)."""
    path = Path(course_dir) / CONFIG_FILE
    if not path.is_file():
        return Config()
    from traitlets.config.loader import PyFileConfigLoader

    try:
        return PyFileConfigLoader(CONFIG_FILE, path=str(path.parent)).load_config()
    except Exception as exc:  # the TA's Python: any error it can raise
        raise CourseError(f"{path} does not load ({type(exc).__name__}: {exc}); fix it.") from None


def course_settings(course_dir: Path) -> Config:
    """The TA's settings for gradkit's runs: the whole course config, gradkit's paths aside."""
    loaded = load_course_config(course_dir)
    for key in ("root", "source_directory", "release_directory", "submitted_directory"):
        loaded.get("CourseDirectory", {}).pop(key, None)
    return loaded


def write_config_file(course_dir: Path, db_url: str | None = None) -> str:
    """Make the course's nbgrader_config.py grade the gradkit way; say what changed ("" if
    nothing did).

    No file: one is written, with the defaults a TA may edit and gradkit's block. A file
    without the block (every existing nbgrader course): the block is appended and the file
    as it was is kept beside it as nbgrader_config.py.before-gradkit. ``db_url`` (gradkit's
    --db-url) is written into the file when the file names no database, so that plain
    nbgrader uses the same gradebook; a different one there is an error. A database server
    needs a course id (nbgrader's tables refer to the course): one is written when the file
    has none. What gradkit writes for the TA goes above the block, as the TA's own lines.
    Then the file is loaded as nbgrader loads it, and a setting that would still undo
    gradkit's pipeline (written after the block) is an error that names it: no nbgrader
    entry point may grade this course another way.
    """
    path = Path(course_dir) / CONFIG_FILE
    notes = []
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise CourseError(f"{path} is not a regular file; gradkit reads and writes it.")
    if not path.exists():
        path.write_text(_NEW_FILE + _block())
        notes.append(f"wrote {path}")
    elif BLOCK_START not in (text := path.read_text()):
        backup = path.with_name(CONFIG_FILE + ".before-gradkit")
        if not backup.exists():
            backup.write_text(text)
        path.write_text(text.rstrip("\n") + "\n\n" + _block())
        notes.append(f"added gradkit's block to {path} (the file as it was: {backup.name})")
    named = load_course_config(course_dir).get("CourseDirectory", {})
    if db_url and named.get("db_url") and named["db_url"] != db_url:
        raise CourseError(
            f"{path} grades into {named['db_url']}, not {db_url}: drop --db-url, or change "
            "c.CourseDirectory.db_url there (plain nbgrader reads that file too)."
        )
    if db_url and not named.get("db_url"):
        _above_block(path, f"c.CourseDirectory.db_url = {db_url!r}  # from gradkit's --db-url")
        notes.append(f"recorded the gradebook's URL in {path}")
    url = db_url or named.get("db_url") or ""
    if url and not url.startswith("sqlite") and not named.get("course_id"):
        _above_block(path, f"c.CourseDirectory.course_id = {DEFAULT_COURSE_ID!r}  # a database "
                           "server needs one: yours to rename before the first grade")  # fmt: skip
        notes.append(f"recorded course id {DEFAULT_COURSE_ID!r} in {path}")
    _check_pipeline(path)
    return "; ".join(notes)


def _block() -> str:
    return "\n".join([
        f"{BLOCK_START} written by gradkit: nbgrader here grades as `gradkit autograde` does",
        "import autograder.course  # noqa: E402",
        "",
        "autograder.course.apply_gradkit(c)  # noqa: F821",
        BLOCK_END,
        "",
    ])  # fmt: skip


def _above_block(path: Path, line: str) -> None:
    text = path.read_text()
    at = text.index(BLOCK_START)
    path.write_text(text[:at] + line + "\n" + text[at:])


def _check_pipeline(path: Path) -> None:
    c = load_course_config(path.parent)
    wanted = apply_gradkit(Config())
    for section, key in (("Autograde", "sanitize_preprocessors"),
                         ("Autograde", "autograde_preprocessors"),
                         ("GenerateFeedback", "preprocessors"),
                         ("OverwriteCells", "add_missing_cells")):  # fmt: skip
        if c.get(section, {}).get(key) != wanted[section][key]:
            raise CourseError(
                f"{path} sets c.{section}.{key} after gradkit's block, so plain nbgrader would "
                f"grade this course another way (the hidden tests then give 0): delete that "
                f"line, or move it above the line {BLOCK_START!r}."
            )


_NEW_FILE = """# nbgrader's configuration of this course, yours to edit (course_id, exchange, late
# penalties, the database...): `gradkit autograde` uses it as plain nbgrader does. Keep
# gradkit's block at the end: it puts gradkit's grading pipeline in place.
c = get_config()  # noqa: F821
c.Execute.timeout = 30  # seconds per cell
# The grading kernel's sandbox (autograder.sandbox); these are the defaults:
# c.GradkitExecute.memory_limit_mb = 2048
# c.GradkitExecute.cpu_limit_seconds = 600
# c.GradkitExecute.process_limit = 64
# c.GradkitExecute.file_size_limit_mb = 64
# c.GradkitExecute.disk_limit_mb = 256
# c.GradkitExecute.allow_network = False
# c.GradkitExecute.notebook_timeout = 300
# c.GradkitExecute.output_limit_kb = 256
# c.GradkitExecute.notebook_output_limit_kb = 4096
# A late submission (nbgrader's LateSubmissionPlugin; due dates live in the gradebook):
# c.LateSubmissionPlugin.penalty_method = "zero"

"""


def nbgrader_config(
    course_dir: Path,
    *,
    db_url: str | None = None,
    timeout: int | None = None,
    settings: dict | None = None,
) -> Config:
    """nbgrader Config for a course directory, sourcing assignments from solutions/.

    ``settings`` (see course_settings) come first; an explicit ``db_url`` or ``timeout``
    overrides them.
    """
    c = Config()
    c.merge(Config(settings or {}))
    c.CourseDirectory.root = str(course_dir)
    apply_gradkit(c)
    c.CourseDirectory.release_directory = str(course_dir / STATE_DIR / "release")
    if db_url:
        c.CourseDirectory.db_url = db_url
    if timeout is not None:
        c.Execute.timeout = timeout
    return c


def nbgrader_environment() -> None:
    """nbgrader runs `alembic` from PATH when it creates a gradebook: put our venv first.

    And nbgrader 0.9.6's ``utils.is_ignored`` globs the file's folder name: for a student
    id like "[r]eference", "*.ipynb" matched nothing and the graded notebook, hidden tests
    included, was copied into that student's feedback/. Names are matched literally here.
    """
    import nbgrader.utils

    nbgrader.utils.is_ignored = _is_ignored
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def _is_ignored(filename: str, ignore_globs: list[str] | None = None) -> bool:
    """nbgrader.utils.is_ignored: does the file's own name match one of the globs?"""
    name = os.path.basename(filename)
    return any(fnmatch.fnmatch(name, g) and not (name.startswith(".") and not g.startswith("."))
               for g in ignore_globs or [])  # fmt: skip


def course_directory(config: Config, assignment: str, student: str = "*"):
    from nbgrader.coursedir import CourseDirectory

    cd = CourseDirectory(config=config, log=log)
    cd.assignment_id = assignment
    cd.student_id = student
    return cd


class LiteralFolders:
    """Mixin for nbgrader converters: a matched submission folder is globbed again in
    nbgrader 0.9.6 (init_notebooks), so a student id like "[r]eference" found nothing.
    Here the folder is taken literally."""

    def init_notebooks(self) -> None:
        import glob

        from nbgrader.converters.base import NbGraderException

        self.assignments, self.notebooks = {}, []
        pattern = self._format_source(self.coursedir.assignment_id, self.coursedir.student_id)
        for folder in glob.glob(pattern):
            notebooks = glob.glob(os.path.join(glob.escape(folder), "*.ipynb"))
            wanted = self.coursedir.notebook_id
            found = [n for n in notebooks if wanted == "*" or Path(n).stem == wanted]
            if found:
                self.assignments[folder] = found
        if not self.assignments:
            raise NbGraderException(f"No notebooks were matched by '{pattern}'")


def run_converter(kind, config: Config, assignment: str, student: str = "*", force=True):
    """Run one nbgrader converter class in this process; raises NbGraderException on failure.

    ``student`` is a glob pattern, as nbgrader takes it (glob.escape a literal id).
    """
    from nbformat.warnings import MissingIDFieldWarning
    from sqlalchemy.exc import SAWarning

    nbgrader_environment()
    kind = type(kind.__name__, (LiteralFolders, kind), {})
    converter = kind(coursedir=course_directory(config, assignment, student), config=config,
                     log=log)  # fmt: skip
    converter.force = force
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's known, harmless session notes
        warnings.simplefilter("ignore", MissingIDFieldWarning)  # cells nbgrader puts back
        converter.start()
    return converter


def register(config: Config, assignment: str) -> None:
    """Make sure the gradebook knows the assignment and its notebooks (from solutions/)."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.converters import GenerateAssignment

    nbgrader_environment()
    with Gradebook(db_url(config)) as gb:
        try:
            known = {nb.name for nb in gb.find_assignment(assignment).notebooks}
        except MissingEntry:
            known = set()
    wanted = {p.stem for p in (SOLUTIONS / assignment).glob("*.ipynb")}
    release = Path(config.CourseDirectory.release_directory) / assignment
    if wanted and wanted <= known and release.is_dir():
        return
    run_converter(GenerateAssignment, config, assignment, ".")


def _default_db(config: Config) -> str:
    return f"sqlite:///{Path(config.CourseDirectory.root) / 'gradebook.db'}"


def db_url(config: Config) -> str:
    """The gradebook URL the config points at."""
    return config.CourseDirectory.get("db_url") or _default_db(config)
