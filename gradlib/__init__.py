"""gradlib: the reference numerics of the gradcheck course kit."""

from gradlib.errors import GradCheckError, PrecisionWarning
from gradlib.gradcheck import check_gradients
from gradlib.numdiff import derivative, numerical_gradient, numerical_vjp
from gradlib.report import BlockResult, Finding, GradCheckReport
from gradlib.unroll import ParamSpec, grads_to_vector, params_to_vector, vector_to_params
from gradlib.verdicts import relative_difference, thresholds

__all__ = [
    "BlockResult",
    "Finding",
    "GradCheckError",
    "GradCheckReport",
    "ParamSpec",
    "PrecisionWarning",
    "check_gradients",
    "derivative",
    "grads_to_vector",
    "numerical_gradient",
    "numerical_vjp",
    "params_to_vector",
    "relative_difference",
    "thresholds",
    "vector_to_params",
]
