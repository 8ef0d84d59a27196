"""Feedback HTML for each graded submission, with hidden tests kept out of it."""

from __future__ import annotations

from pathlib import Path

from autograder.course import check_assignment, course_settings, nbgrader_config, run_converter


def feedback(assignment: str, course_dir, db_url: str | None = None) -> list[Path]:
    """Write feedback/STUDENT/ASSIGNMENT/*.html for every autograded submission.

    Returns the HTML files written.
    """
    from nbgrader.converters import GenerateFeedback

    course_dir = Path(course_dir).resolve()
    check_assignment(assignment)
    graded = sorted((course_dir / "autograded").glob(f"*/{assignment}"))
    if not graded:
        return []
    config = nbgrader_config(course_dir, db_url=db_url, settings=course_settings(course_dir))
    run_converter(GenerateFeedback, config, assignment)
    return sorted((course_dir / "feedback").glob(f"*/{assignment}/*.html"))
