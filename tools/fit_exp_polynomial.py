"""Print the coefficients of csrc/simd/activations.h's exp polynomial.

vexp_parts computes exp(r) - 1 = r * (1 + r * P(r)) for r in [-ln2/2, ln2/2].
P approximates (exp(r) - 1 - r) / r^2 = 1/2 + r/6 + r^2/24 + ...; a
Chebyshev fit (mpmath.chebyfit, close to minimax) reaches with degree d the
error that the Taylor series needs about d + 2 terms for, so each exp takes
two fewer FMAs in float64 and one fewer in float32 than the series did.

Usage: python tools/fit_exp_polynomial.py   (needs mpmath)
"""

import mpmath as mp

mp.mp.dps = 50
HALF_LN2 = mp.log(2) / 2
DEGREES = {"float64": (9, 17), "float32": (4, 9)}  # degree of P, digits printed


def P(r):
    if abs(r) < mp.mpf("1e-20"):
        return mp.mpf(1) / 2 + r / 6
    return mp.expm1(r) / r**2 - 1 / r


for dtype, (degree, digits) in DEGREES.items():
    coeffs, err = mp.chebyfit(P, [-HALF_LN2, HALF_LN2], degree + 1, error=True)
    # An error e in P is an error r^2 e in exp(r) - 1 ~ r(1 + r/2): relative
    # at most |r| e / (1 - |r|/2) over the interval.
    relative = HALF_LN2 * err / (1 - HALF_LN2 / 2)
    print(f"{dtype}: degree {degree}, relative error of exp(r) - 1 <= {float(relative):.2e}")
    for c in coeffs:  # highest degree first, as Horner's rule uses them
        print("   ", mp.nstr(c, digits))
