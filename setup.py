"""Build hook: the wheel ships solutions/ and course/ inside the package, as
autograder/notebooks/solutions/ and autograder/notebooks/course/.

In the repository they stay at the root (DESIGN.md: nbgrader's source and release
directories); autograder.course.kit_root() finds them in either place. Everything else
about the build is in pyproject.toml; MANIFEST.in puts the notebooks in the sdist.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
NOTEBOOKS = ("solutions", "course")


class BuildPy(build_py):
    """build_py, plus the notebooks copied under autograder/notebooks/."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's own folders
            return
        for folder in NOTEBOOKS:
            for notebook in sorted((ROOT / folder).glob("[!.]*/[!.]*.ipynb")):  # no checkpoints
                target = Path(self.build_lib, "autograder", "notebooks", notebook.relative_to(ROOT))
                self.mkpath(str(target.parent))
                self.copy_file(str(notebook), str(target))


setup(cmdclass={"build_py": BuildPy})
