"""Does only data travel back from student code, and does it survive the trip intact?"""

import numpy as np

from autograder.harness import Unreadable, call_here, decode_value


def _run(call, inputs, namespace=None, names=()):
    return call_here(call, names, namespace if namespace is not None else {}, inputs)


def test_arrays_dicts_and_scalars_round_trip_exactly():
    rng = np.random.default_rng(0)
    inputs = {"X": rng.normal(size=(3, 4)), "params": {"W1": rng.normal(size=(2, 3))}, "lambd": 0.7}
    answer = _run('_out = {"dW1": _in["params"]["W1"] * 2, "X": _in["X"], "l": _in["lambd"],'
                  ' "t": (1, "a"), "s": {"dW2"}}', inputs)  # fmt: skip
    assert answer.ok
    np.testing.assert_array_equal(answer.value["dW1"], inputs["params"]["W1"] * 2)
    np.testing.assert_array_equal(answer.value["X"], inputs["X"])
    assert answer.value["l"] == 0.7
    assert answer.value["t"] == (1, "a") or answer.value["t"] == (1.0, "a")
    assert answer.value["s"] == {"dW2"}


def test_an_exception_in_the_student_code_is_reported_not_raised():
    answer = _run("_out = 1 / 0", {})
    assert not answer.ok
    assert answer.error.startswith("ZeroDivisionError")


def test_objects_that_are_not_numbers_come_back_as_unreadable():
    answer = _run("_out = object()", {})
    assert answer.ok and isinstance(answer.value, Unreadable)
    assert answer.value.type == "object"


def test_a_fake_array_is_turned_into_its_numbers():
    # an object with a lying __eq__ and an __array__: only the numbers travel back
    code = """
class Fake:
    def __eq__(self, other): return True
    def __array__(self, dtype=None, copy=None):
        import numpy
        return numpy.full((2, 2), 7.0)
_out = Fake()
"""
    answer = _run(code, {})
    np.testing.assert_array_equal(answer.value, np.full((2, 2), 7.0))


def test_complex_numbers_are_not_a_gradient():
    answer = _run("import numpy\n_out = numpy.ones(3) * complex(1, 1e-30)", {})
    assert isinstance(answer.value, Unreadable) and "complex" in answer.value.why


def test_corrupt_array_data_is_refused():
    import pytest

    with pytest.raises(ValueError):
        decode_value({"__nd__": [3, 3], "data": "AAAA"})


def test_names_shadowed_in_the_notebook_do_not_break_the_harness():
    # Beginners write sum = 0 or type = "relu"; tamperers write abs = lambda v: 0.0.
    namespace = {}
    exec("import numpy as np\nsum = 0\ntype = 'relu'\nabs = lambda v: 0.0\n"
         "isinstance = lambda *a: True\nstr = None\n"
         "def double(x):\n    return 2 * x", namespace)  # fmt: skip
    answer = _run('_out = {"y": double(_in["x"])}', {"x": np.arange(3.0)}, namespace, ("double",))
    assert answer.ok, answer.error
    np.testing.assert_array_equal(answer.value["y"], [0.0, 2.0, 4.0])


def test_only_the_named_notebook_functions_are_visible_to_the_call():
    namespace = {"secret_helper": lambda: 1, "double": lambda x: 2 * x}
    answer = _run("_out = secret_helper()", {}, namespace, ("double",))
    assert not answer.ok and "secret_helper" in answer.error
