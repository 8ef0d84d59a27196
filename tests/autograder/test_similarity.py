"""Does `gradkit similarity` show the TA near-copies, of each other and of gradlib's source?"""

import inspect
from pathlib import Path

import nbformat
import pytest

from autograder import cli, demo
from autograder.similarity import similar
from gradlib import nn

OWN_BACKWARD = """\
def L_model_backward(AL, Y, caches, lambd):
    out = {}
    count = Y.shape[1]
    delta = AL - Y
    for layer in reversed(range(1, len(caches) + 1)):
        (inputs, weights, bias), pre = caches[layer - 1]
        if layer != len(caches):
            delta = upstream * (pre > 0)
        out["dW" + str(layer)] = (delta @ inputs.T + lambd * weights) / count
        out["db" + str(layer)] = delta.mean(axis=1, keepdims=True)
        upstream = weights.T @ delta
    return out
"""


def _renamed(source: str) -> str:
    """A copy with every local name changed, as a student hiding a copy would."""
    for old, new in (("grads", "g"), ("dZ", "delta"), ("linear_cache", "lc"), ("dA", "up"),
                     ("activation_cache", "ac"), ("A_prev", "prev")):  # fmt: skip
        source = source.replace(old, new)
    return source


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("similar")
    answers = demo.answers()
    reference = inspect.getsource(nn.backward) + inspect.getsource(nn.network_gradients)
    stories = {
        "ada": {},
        "bob": {k: _renamed(v) for k, v in answers.items()},  # ada's notebook, renamed
        "cy": {"L_model_backward": OWN_BACKWARD},  # her own backward
        "dee": {"L_model_backward": reference},  # pastes gradlib's source
    }
    for name, edits in stories.items():
        nb = demo.submission(demo.Student(name, "", {}, edits=edits))
        folder = course / "autograded" / name / "04-backprop"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "04-backprop.ipynb")
    return course


def _pairs(course):
    return {(p.first, p.second): p for p in similar("04-backprop", course)}


def test_a_renamed_copy_of_a_classmate_is_flagged(course):
    pairs = _pairs(course)
    assert ("ada", "bob") in pairs and pairs[("ada", "bob")].share > 0.8


def test_pasted_reference_source_is_flagged_against_gradlib(course):
    pairs = _pairs(course)
    assert ("dee", "gradlib/nn.py") in pairs
    assert not any(b.startswith("gradlib/") for a, b in pairs if a != "dee")


def test_own_work_is_not_flagged_against_the_reference(course):
    pairs = _pairs(course)
    assert not any(a == "cy" and b.startswith("gradlib/") for a, b in pairs)


def test_the_cli_lists_the_pairs_and_writes_a_csv(course, capsys):
    assert cli.main(["similarity", "04-backprop", "--course-dir", str(course)]) == 0
    out = capsys.readouterr().out
    assert "dee ~ gradlib/nn.py" in out and "ada ~ bob" in out
    rows = Path(course / "similarity-04-backprop.csv").read_text().splitlines()
    assert rows[0] == "student,shares_code_with,share,shared_tokens" and len(rows) > 2
