"""Fits the polynomial behind Erf.ScaledComplement (src/MedClip/Backends/Cpu/Erf.cs): the float erf GELU's tail.

erfcx(z) = exp(z^2) erfc(z) is smooth and bounded on z >= 0; with t = 1/(1 + z/2) in (0, 1] it is t * S(t) where
S runs from 1/(2 sqrt(pi)) at t = 0 (z -> infinity) to 1 at t = 1 (z = 0). S is fitted by a polynomial of degree 10
in t, minimising the largest relative error (least squares on Chebyshev nodes, reweighted towards minimax).
Prints the coefficients (lowest degree first) and the error in exact arithmetic and in float32 Horner evaluation.

Run: /usr/bin/python3 tools/reference/fit_erfcx.py   (needs numpy only)
"""
import math

import numpy as np

DEGREE = 10


def erfcx(z):
    if z < 25:
        return math.erfc(z) * math.exp(z * z)
    # Asymptotic series; at z >= 25 its terms fall by 1/(2 z^2) < 1e-3 each, so 11 terms reach double precision.
    total, term = 1.0, 1.0
    for n in range(1, 12):
        term *= -(2 * n - 1) / (2 * z * z)
        total += term
    return total / (z * math.sqrt(math.pi))


def target(t):
    return 1 / (2 * math.sqrt(math.pi)) if t == 0 else erfcx(2 * (1 - t) / t) / t


def fit():
    n = 4000
    t = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
    y = np.array([target(v) for v in t])
    basis = np.vander(t, DEGREE + 1, increasing=True)
    weight = 1 / y
    for _ in range(30):
        coefficients, *_ = np.linalg.lstsq(basis * weight[:, None], y * weight, rcond=None)
        error = np.abs(basis @ coefficients - y) / y
        weight *= 1 + 10 * error / error.max()
    return coefficients


def main():
    c = fit()
    t = np.linspace(0, 1, 200001)
    y = np.array([target(v) for v in t])
    exact = np.abs(np.polyval(c[::-1], t) - y) / y
    t32 = t.astype(np.float32)
    horner = np.full_like(t32, np.float32(c[-1]))
    for k in range(DEGREE - 1, -1, -1):
        horner = (horner * t32 + np.float32(c[k])).astype(np.float32)
    rounded = np.abs(horner - np.array([target(float(v)) for v in t32])) / y
    print(f"max relative error: {exact.max():.3g} exact, {rounded.max():.3g} in float32 Horner")
    print(", ".join(f"{v:.9g}f" for v in c))


if __name__ == "__main__":
    main()
