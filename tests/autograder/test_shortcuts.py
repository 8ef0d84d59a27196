"""Do the reference solution, autograd and numeric differentiation earn nothing?"""

from autograder.shortcuts import static_shortcuts

SETUP = "import numpy as np\nimport gradlib\nfrom gradlib import check_gradients\n"


def test_calling_the_reference_backward_is_found_through_aliases():
    cells = [
        SETUP,
        "import gradlib.nn as ref\n",
        "def helper(c):\n    return ref.backward(*c)\n",
        "def L_model_backward(AL, Y, caches, lambd):\n    return helper((AL, Y, caches))\n",
    ]
    reasons = static_shortcuts(cells, ("L_model_backward",))
    assert reasons == ["helper uses the reference backward (gradlib.nn.backward)"]


def test_numeric_differentiation_and_autograd_are_found():
    cells = [
        SETUP,
        "from gradlib import numerical_gradient as ng\nimport torch\n",
        "def bw(X):\n    torch.tensor(X)\n    return ng(lambda t: 0.0, X)\n",
    ]
    (reason,) = static_shortcuts(cells, ("bw",))
    assert "PyTorch autograd" in reason
    assert "numeric differentiation (gradlib.numerical_gradient)" in reason


def test_dynamic_code_and_complex_step_are_found():
    cells = ["def bw(x):\n    return eval('x') + (x + 1e-20j).imag\n"]
    reasons = static_shortcuts(cells, ("bw",))
    assert any("eval()" in r for r in reasons)
    assert any("complex" in r for r in reasons)


def test_gradlib_outside_the_graded_function_is_fine():
    cells = [
        SETUP,
        "def bw(x):\n    return 2 * x\n",
        "check_gradients(lambda t: t @ t, np.ones(2), bw(np.ones(2)))\n",
    ]
    assert static_shortcuts(cells, ("bw",)) == []


def test_a_name_the_task_asks_for_is_not_a_shortcut_but_its_neighbours_are():
    cells = [
        "import gradlib.netgrad\nfrom gradlib.netgrad import check_network as cn\n",
        "def kinked(p, X, Y, g):\n    gradlib.netgrad.check_network(p, X, Y, g)\n"
        "    return cn(p, X, Y, g).kinks\n",
        "def other(p, X, Y):\n    return gradlib.netgrad.network_numeric_gradient(p, X, Y)\n",
    ]
    allowed = ("gradlib.netgrad.check_network",)
    assert static_shortcuts(cells, ("kinked",), allowed=allowed) == []
    assert static_shortcuts(cells, ("other",), allowed=allowed) == [
        "other uses the reference numeric gradient (gradlib.netgrad)"
    ]
    assert static_shortcuts(cells, ("kinked",)) != []


# A backward that reaches the same shortcuts from two functions, under several names.
TWICE = [
    SETUP,
    "import torch\nimport gradlib.nn as ref\nfrom gradlib.nn import backward as bw\n"
    "import gradlib.numdiff as nd\n",
    "def helper(c):\n    torch.tensor(c)\n    return ref.backward(*c), nd.derivative(abs, 1.0)\n",
    "def L_model_backward(AL, Y, caches, lambd):\n    torch.autograd.grad(AL, Y)\n"
    "    g = bw(AL, Y, caches)\n    g = ref.backward(AL, Y, caches)\n"
    "    gradlib.numerical_gradient(abs, AL)\n    return helper((AL, Y, caches))\n",
]


def test_each_shortcut_is_said_once_with_every_function_that_uses_it():
    (reason,) = static_shortcuts(TWICE, ("L_model_backward",))
    assert reason == (
        "L_model_backward and helper use PyTorch autograd, the reference backward "
        "(gradlib.nn.backward) and numeric differentiation (gradlib.numerical_gradient, "
        "gradlib.numdiff)"
    ), reason


def test_the_feedback_says_a_shortcut_once_per_function():
    """Through the grader: one line for L_model_backward, each reason in it once."""
    from autograder.assignments.backprop import TASKS
    from autograder.grading import grade_answer
    from autograder.harness import Answer

    task = TASKS["test_backward"]
    inputs = task.draw(3)
    score = grade_answer(task, Answer(True, {}), inputs, 6.0, sources=TWICE)
    assert score.points == 0.0
    (line,) = score.lines
    assert line.startswith("✗ 0 points for L_model_backward: ")
    assert line.count("Shortcuts earn nothing") == 1
    for thing in ("PyTorch autograd", "gradlib.nn.backward", "numeric differentiation",
                  "gradlib.numdiff", "gradlib.numerical_gradient"):  # fmt: skip
        assert line.count(thing) == 1, (thing, line)
