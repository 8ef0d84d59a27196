"""The grad check: compare an analytic gradient with the numeric one, block by block.

``check_gradients`` computes the numeric gradient (gradlib.numdiff, or gradlib.fastcheck
in fast mode), judges each block on the scale of gradlib.verdicts, asks gradlib.kinks
whether failing entries merely crossed a kink, and gradlib.diagnose what kind of bug the
rest is. ``relative_difference`` and ``thresholds`` live in gradlib.verdicts and are
re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gradlib.diagnose import diagnose
from gradlib.errors import (
    GradCheckError,
    as_float_array,
    first_call,
    require_callable,
    require_count,
    require_finite,
    scalar_value,
    warn_if_low_precision,
)
from gradlib.fastcheck import fast_check
from gradlib.kinks import black_box_kinks
from gradlib.numdiff import (
    EVALUATIONS_PER_COORDINATE,
    check_method,
    default_eps,
    gradient_in_place,
)
from gradlib.report import BlockResult, GradCheckReport
from gradlib.unroll import ParamSpec, grads_to_vector, params_to_vector
from gradlib.verdicts import NOISE_FACTOR, UNCHECKED, relative_difference, thresholds


def check_gradients(
    J: Callable,
    params_or_theta,
    grads,
    eps: float | None = None,
    method: str = "central",
    *,
    worst: int = 3,
    kinks=None,
    mode: str = "full",
    directions: int = 4,
    seed: int | None = None,
    context: dict | None = None,
) -> GradCheckReport:
    """Grad check: compare ``grads`` with the numeric gradient of ``J``, block by block.

    Parameters
    ----------
    J : the cost. With a dict of parameters, J takes such a dict; with an array θ, J
        takes an array of θ's shape. It must return a scalar.
    params_or_theta : dict name -> array ({"W1": (n1, n0), "b1": (n1, 1), ...}) or array θ
    grads : the analytic gradient: a dict with keys dW1, db1, ... (or W1, b1, ...) for a
        dict of parameters, an array of θ's shape for an array
    eps : base step; None picks the best step for ``method`` and the dtype
    method : numeric method, see gradlib.numdiff.METHODS
    worst : how many of the largest element differences each block names
    kinks : optional boolean mask over θ (shape (n,)) of entries whose perturbation is
        known to cross a kink of J (e.g. a ReLU changing side); they are reported as
        kinks and left out of the verdict
    mode : "full" (every entry, ~2n evaluations of J) or "fast" (random directional
        derivatives per block, then bisection inside failing blocks: O(k + log n) evaluations)
    directions : fast mode: random directions per block
    seed : fast mode: seed of the random directions
    context : optional facts for the diagnosis: "m" (batch size), "lambd" (L2 strength)

    Returns
    -------
    GradCheckReport
    """
    require_callable(J)
    _check_options(method, mode, kinks, worst, context)
    theta, spec, dtheta, as_dict = _unroll(params_or_theta, grads)
    buffer = theta.copy()

    views = {}  # id(buffer) -> its blocks as views, built once per buffer

    def J_vec(buf: np.ndarray):
        # J sees views of the working buffer (in θ's shape), so perturbing an entry needs
        # no copy.
        if as_dict:
            if id(buf) not in views:
                views[id(buf)] = spec.views(buf)  # the views keep buf alive: ids stay unique
            return J(dict(views[id(buf)]))  # a fresh dict: J may rebind its entries
        return J(buf if buf.shape == spec.shapes[0] else buf.reshape(spec.shapes[0]))

    j0 = scalar_value(
        first_call(J_vec, buffer, theta, "J", "theta", "the given parameters"),
        "at the given parameters",
    )
    if mode == "fast":
        return fast_check(
            J_vec,
            buffer,
            spec,
            dtheta,
            j0,
            eps,
            directions=directions,
            seed=seed,
            worst=worst,
            context=context,
        )
    numeric = gradient_in_place(J_vec, buffer, eps, method, label=spec.label)
    evaluations = EVALUATIONS_PER_COORDINATE[method] * spec.size + 1
    if method in ("forward", "backward"):
        evaluations += 1
    args = (spec, theta, dtheta, numeric, j0, eps, method)
    report = make_report(*args, evaluations, kinks=kinks, worst=worst, context=context)
    if report.failing() and method != "complex":
        # Only a failing check pays for this: did some steps merely cross a ReLU kink?
        crossed, extra = black_box_kinks(J_vec, report, j0)
        given = crossed if kinks is None else crossed | np.asarray(kinks, bool).reshape(-1)
        report = make_report(*args, evaluations + extra, kinks=given, worst=worst, context=context)
    return report


def make_report(
    spec: ParamSpec,
    theta: np.ndarray,
    dtheta: np.ndarray,
    numeric: np.ndarray,
    j0: float,
    eps: float | None,
    method: str,
    evaluations: int,
    *,
    kinks=None,
    worst: int = 3,
    context: dict | None = None,
) -> GradCheckReport:
    """Build the report from θ, the analytic dθ and the numeric gradient (all shape (n,)).

    Every way of computing the numeric gradient (black-box loop, fast mode, the reference
    network's structured gradient) ends here, so verdicts and diagnoses agree.
    ``kinks`` is a boolean mask over θ of entries left out of the verdict; ``context``
    ({"m": batch size, "lambd": L2 strength}) helps the diagnosis name factors.
    """
    step = default_eps(method, theta.dtype) if eps is None else float(eps)
    kinks = np.zeros(spec.size, bool) if kinks is None else np.asarray(kinks, bool).reshape(-1)
    if kinks.shape != (spec.size,):
        raise GradCheckError(f"kinks must be a mask of {spec.size} entries, got {kinks.shape}.")
    noise = _noise(j0, theta, step, method)
    limits = thresholds(theta.dtype, step, method)
    blocks = tuple(
        _block_result(spec, name, dtheta, numeric, noise, kinks, limits, worst)
        for name in spec.names
    )
    smooth = ~kinks
    report = GradCheckReport(
        difference=relative_difference(dtheta[smooth], numeric[smooth]),
        blocks=blocks,
        eps=step,
        method=method,
        dtype=str(theta.dtype),
        thresholds=limits,
        evaluations=evaluations,
        spec=spec,
        theta=theta,
        kinks=tuple(spec.label(i) for i in np.flatnonzero(kinks)),
    )
    report.diagnosis.extend(diagnose(report, context))
    return report


def _check_options(method, mode, kinks, worst, context) -> None:
    """Check check_gradients' options before any evaluation of J."""
    check_method(method)
    if mode not in ("full", "fast"):
        raise GradCheckError(f"unknown mode {mode!r}; choose 'full' or 'fast'.")
    if mode == "fast" and (method != "central" or kinks is not None):
        given = "kinks" if kinks is not None else f"method={method!r}"
        raise GradCheckError(
            f"mode='fast' uses central differences along random directions and cannot honour "
            f"{given}; drop it, or use mode='full'."
        )
    require_count(worst, "worst", "elements named per failing block")
    if context is not None and not isinstance(context, dict):
        raise GradCheckError(
            f"context must be a dict such as {{'m': 64, 'lambd': 0.1}} or None, got "
            f"{type(context).__name__}."
        )


def _unroll(params_or_theta, grads):
    """θ, its spec, dθ and whether J takes a dict; with the input checks."""
    if isinstance(params_or_theta, dict):
        theta, spec = params_to_vector(params_or_theta)
        for name, value in params_or_theta.items():
            warn_if_low_precision(np.asarray(value), name)
        dtheta = grads_to_vector(grads, spec)
        as_dict = True
    else:
        theta = as_float_array(params_or_theta, "theta")
        warn_if_low_precision(theta, "theta")
        if isinstance(grads, dict):
            raise GradCheckError(
                "theta is an array but grads is a dict; pass grads as an array of theta's "
                "shape (e.g. grads_to_vector(grads, spec))."
            )
        dtheta = as_float_array(grads, "grads")
        if dtheta.shape != theta.shape:
            raise GradCheckError(
                f"grads has shape {dtheta.shape} but theta has shape {theta.shape}; the "
                "gradient must have theta's shape."
            )
        spec = ParamSpec.from_shapes({"theta": theta.shape})
        theta, dtheta = theta.reshape(-1), dtheta.reshape(-1)
        as_dict = False
    require_finite(theta, "theta", spec.label)
    require_finite(dtheta, "grads", lambda i: "d" + spec.label(i))
    return theta, spec, dtheta, as_dict


def _noise(j0: float, theta: np.ndarray, step: float, method: str) -> np.ndarray:
    """Rounding error of each numeric entry, ≈ u·|J| / h_i (none for the complex step)."""
    if method == "complex":
        return np.zeros(theta.shape)
    u = float(np.finfo(theta.dtype).eps)
    h = step * np.maximum(1.0, np.abs(theta))
    return NOISE_FACTOR * u * abs(j0) / h


def _block_result(spec, name, dtheta, numeric, noise, kinks, limits, k) -> BlockResult:
    part = spec.block(name)
    analytic, approx = dtheta[part], numeric[part]
    smooth = ~kinks[part]  # entries whose numeric value is not spoiled by a kink
    diff = np.where(smooth, np.abs(analytic - approx), 0.0)
    rel = relative_difference(analytic[smooth], approx[smooth]) if smooth.any() else 0.0
    above_noise = np.linalg.norm(diff) > np.linalg.norm(noise[part][smooth])
    verdict = limits.verdict(rel) if above_noise else "correct"
    if not smooth.any():  # nothing was checked: no verdict on the numbers can be "correct"
        verdict = UNCHECKED
    order = np.argsort(-diff, kind="stable")[:k]
    shape = spec.shapes[spec.names.index(name)]
    return BlockResult(
        name=name,
        shape=shape,
        relative_difference=rel,
        verdict=verdict,
        worst=tuple(
            (spec.label(part.start + int(i)), float(analytic[i]), float(approx[i])) for i in order
        ),
        analytic=analytic.reshape(shape),
        numeric=approx.reshape(shape),
    )


__all__ = ["GradCheckReport", "check_gradients", "make_report", "relative_difference", "thresholds"]
