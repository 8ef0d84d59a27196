"""gradkit's autograder: grade student backprop by gradient checking, through nbgrader.

In a notebook, ``autograder.check(fn)`` runs the grader's own check of ``fn`` on public
inputs and shows, per gradient block, what is right and what is wrong.
"""

import sys

# jsonschema's format checker imports rfc3987_syntax when it is installed, and that module
# builds a Lark grammar when imported: 1.2 s of CPU in every process that imports nbformat
# (gradkit's parent and each of its workers). No schema these processes validate (nbformat's,
# nbgrader's) uses the formats it checks ("iri", "iri-reference"), so it is never imported.
sys.modules.setdefault("rfc3987_syntax", None)

from autograder.selfcheck import SelfCheck, assert_passes, check  # noqa: E402

__all__ = ["SelfCheck", "assert_passes", "check"]
