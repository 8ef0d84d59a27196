"""A short tour of gradlib in the terminal: ``python -m gradlib.tour``."""

from __future__ import annotations

import numpy as np

from gradlib import check_gradients, derivative
from gradlib.numdiff import error_sweep


def seed_example() -> str:
    """The lecture's f(θ) = θ³ at θ = 1 with ε = 0.01."""
    two = derivative(lambda t: t**3, 1.0, eps=0.01, method="central")
    one = derivative(lambda t: t**3, 1.0, eps=0.01, method="forward")
    return (
        "f(θ) = θ³ at θ = 1, ε = 0.01 (true derivative 3)\n"
        f"  two-sided (f(θ+ε) - f(θ-ε)) / 2ε = {two:.4f}   error {abs(two - 3):.0e}  O(ε²)\n"
        f"  one-sided (f(θ+ε) - f(θ)) / ε    = {one:.4f}   error {abs(one - 3):.0e}  O(ε)"
    )


def sweep_table() -> str:
    """Relative error of d/dx exp(x) at x = 0.7 for each step, per method."""
    table = error_sweep(np.exp, 0.7, np.exp(0.7), eps_values=np.logspace(-14, -1, 14))
    lines = [
        "ε sweep: relative error of d/dx exp(x) at x = 0.7",
        f"  {'ε':>7}  {'one-sided':>9}  {'two-sided':>9}  {'complex':>9}",
    ]
    for k, eps in enumerate(table["eps"]):
        lines.append(
            f"  {eps:7.0e}  {table['forward'][k]:9.1e}  {table['central'][k]:9.1e}  "
            f"{table['complex'][k]:9.1e}"
        )
    lines.append(
        "  one-sided is best near ε≈1e-8, two-sided near ε≈1e-5; the complex step has "
        "no rounding floor."
    )
    return "\n".join(lines)


def planted_bug() -> str:
    """Grad check of a two-layer tanh network whose dW2 has a stray factor 2 at one element."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 8))
    params = {
        "W1": rng.normal(size=(4, 3)),
        "b1": np.zeros((4, 1)),
        "W2": rng.normal(size=(1, 4)),
        "b2": np.zeros((1, 1)),
    }

    def cost(p):
        A1 = np.tanh(p["W1"] @ X + p["b1"])
        return float(np.mean((p["W2"] @ A1 + p["b2"]) ** 2) / 2)

    A1 = np.tanh(params["W1"] @ X + params["b1"])
    dA2 = (params["W2"] @ A1 + params["b2"]) / X.shape[1]
    dZ1 = (params["W2"].T @ dA2) * (1 - A1**2)
    grads = {
        "dW1": dZ1 @ X.T,
        "db1": dZ1.sum(axis=1, keepdims=True),
        "dW2": dA2 @ A1.T,
        "db2": dA2.sum(axis=1, keepdims=True),
    }
    grads["dW2"][0, 2] *= 2  # the planted bug
    report = check_gradients(cost, params, grads)
    return "Grad check of a network with a planted bug in dW2[0, 2]:\n" + report.summary()


def main() -> None:
    for part in (seed_example(), sweep_table(), planted_bug()):
        print(part, end="\n\n")


if __name__ == "__main__":
    main()
