/* Vector exp, sigmoid and tanh, accurate to a few ulp in float32 and float64.
 *
 * Numerically safe by construction: exp clamps its argument to the range
 * where 2^n is a normal number, so sigmoid and tanh are finite and correct
 * (saturated at 0, 1 or +-1) for inputs up to +-1e4 and for +-inf; no
 * overflow ever produces inf/inf = NaN. Branch-free, so the compiler keeps
 * everything in vector registers.
 */
#ifndef LSTMF_ACTIVATIONS_H
#define LSTMF_ACTIVATIONS_H

#include "vec.h"

/* 1/x. Division is the slowest vector instruction in the activations; with
 * AVX-512 an estimate good to 2^-14 plus Newton steps (one for float32, two
 * for float64) reaches the dtype's precision at a fraction of the cost. Each
 * step is r + r*(1 - x*r): the residual 1 - x*r comes exact out of an FMA, so
 * the last step rounds once (r*(2 - x*r) rounds 2 - x*r first: about an ulp
 * more in tanh). */
LSTMF_INLINE vreal vrecip(vreal x) {
#if defined(__AVX512F__) && VBYTES == 64
#ifdef LSTMF_DTYPE_F64
    vreal r = (vreal)_mm512_rcp14_pd((__m512d)x);
    r = r + r * (1 - x * r);
#else
    vreal r = (vreal)_mm512_rcp14_ps((__m512)x);
#endif
    return r + r * (1 - x * r);
#else
    return 1 / x;
#endif
}

#ifdef LSTMF_DTYPE_F64
#define EXP_LO (-708.0)
#define EXP_HI 709.0
#define EXP_MANT_BITS 52
/* 1.5 * 2^52 + 1023: adding it rounds to an integer n held in the low bits
 * of the mantissa, already biased (n + 1023), where the exponent field of
 * 2^n wants it (see vexp_parts). */
#define ROUND_MAGIC 6755399441056767.0
#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10
#else
#define EXP_LO (-87.0f)
#define EXP_HI 88.0f
#define EXP_MANT_BITS 23
#define ROUND_MAGIC 12583039.0f /* 1.5 * 2^23 + 127 */
#define LN2_HI 0.693359375f
#define LN2_LO (-2.12194440e-4f)
#endif

/* exp(x) = 2^n * exp(r), r = x - n ln2 in [-ln2/2, ln2/2] (Cody-Waite), and
 * exp(r) - 1 from a polynomial good to the dtype's precision.
 * Returns q = exp(r) - 1 and sets *scale = 2^n, so exp(x) = scale * (1 + q)
 * and expm1(x) = scale * q + (scale - 1), each with one rounding of q. */
LSTMF_INLINE vreal vexp_parts(vreal x, vreal *scale) {
    /* Bound first in min/max's second operand, which x86 returns when the
     * other is NaN: a NaN input stays NaN instead of becoming a bound. */
    x = vmin(vset1(EXP_HI), vmax(vset1(EXP_LO), x));
    /* t's mantissa ends in the bits of n + bias: n = round(x / ln2) is at
     * most 1023 (float64) or 127 (float32) in size after the clamp, so those
     * bits, shifted into the exponent field, are 2^n with no conversion. */
    vreal t = x * (real)1.44269504088896340736 + ROUND_MAGIC;
    vreal n = t - ROUND_MAGIC;
    vreal r = (x - n * LN2_HI) - n * LN2_LO;
    /* P(r) ~ (exp(r) - 1 - r) / r^2 by a Chebyshev fit, not the Taylor
     * series: two (float64) and one (float32) fewer terms for the same
     * accuracy, exp(r) - 1 within 4.4e-17 (float64) and 2.7e-8 (float32)
     * relative. tools/fit_exp_polynomial.py prints these coefficients. */
#ifdef LSTMF_DTYPE_F64
    vreal p = vset1(2.5100375832561234e-8);
    p = p * r + 2.7620075879983367e-7;
    p = p * r + 2.7557268480310026e-6;
    p = p * r + 2.4801521322368693e-5;
    p = p * r + 1.9841269863040545e-4;
    p = p * r + 1.3888888917196719e-3;
    p = p * r + 8.3333333333300644e-3;
    p = p * r + 4.1666666666624162e-2;
    p = p * r + 1.6666666666666667e-1;
    p = p * r + 5.0000000000000011e-1;
#else
    vreal p = vset1(1.39261761e-3f);
    p = p * r + 8.36317307e-3f;
    p = p * r + 4.16665547e-2f;
    p = p * r + 1.66665770e-1f;
    p = p * r + 0.5f;
#endif
    p = p * r + 1;
    *scale = (vreal)((vint)t << EXP_MANT_BITS);
    return p * r;
}

/* exp(x) and expm1(x) from vexp_parts' q and scale. */
LSTMF_INLINE vreal exp_from_parts(vreal q, vreal scale) { return scale * q + scale; }
LSTMF_INLINE vreal expm1_from_parts(vreal q, vreal scale) { return scale * q + (scale - 1); }

LSTMF_INLINE vreal vexp(vreal x) {
    vreal scale, q = vexp_parts(x, &scale);
    return exp_from_parts(q, scale);
}

LSTMF_INLINE vreal vsigmoid(vreal x) { return vrecip(1 + vexp(-x)); }

/* tanh(|x|) = -m / (2 + m) with m = expm1(-2|x|) in (-1, 0]; the sign is put
 * back last. expm1 keeps its relative accuracy as x -> 0, where
 * (1 - e)/(1 + e) with e = exp(-2|x|) would cancel, so no second polynomial
 * is needed near 0. Its one cancellation, scale*q + (scale - 1) when
 * scale = 1/2, costs at most a bit: |m| >= 1 - 2^-1/2 = 0.29 there.
 * tanh_arg and tanh_finish are its first and last steps: expm1's argument
 * -2|x| with x's sign aside, and -m * (1 / (2 + m)) with the sign back. */
LSTMF_INLINE vreal tanh_arg(vreal x, vint *sign) {
    const vint sign_mask = (vint){0} + (vint_lane)(sizeof(real) == 8 ? INT64_MIN : INT32_MIN);
    *sign = (vint)x & sign_mask;
    return -2 * (vreal)((vint)x & ~sign_mask);
}

LSTMF_INLINE vreal tanh_finish(vreal m, vreal recip_2_plus_m, vint sign) {
    return (vreal)((vint)(-m * recip_2_plus_m) | sign);
}

LSTMF_INLINE vreal vtanh(vreal x) {
    vint sign;
    vreal scale, q = vexp_parts(tanh_arg(x, &sign), &scale);
    vreal m = expm1_from_parts(q, scale);
    return tanh_finish(m, vrecip(2 + m), sign);
}

/* The LSTM's gate activations: sigmoid of *i, *f and *o and tanh of *g,
 * in place: vsigmoid's and vtanh's steps, each taken for the four gates
 * side by side, so that every stretch of code holds four independent
 * chains instead of one. The same operations per lane: the same bits. */
LSTMF_INLINE void vlstm_gates(vreal *i, vreal *f, vreal *g, vreal *o) {
    vint g_sign;
    const vreal g_arg = tanh_arg(*g, &g_sign);
    vreal si, sf, sg, so;
    const vreal qi = vexp_parts(-*i, &si), qf = vexp_parts(-*f, &sf);
    const vreal qg = vexp_parts(g_arg, &sg), qo = vexp_parts(-*o, &so);
    const vreal ei = exp_from_parts(qi, si), ef = exp_from_parts(qf, sf);
    const vreal mg = expm1_from_parts(qg, sg), eo = exp_from_parts(qo, so);
    const vreal ri = vrecip(1 + ei), rf = vrecip(1 + ef), rg = vrecip(2 + mg), ro = vrecip(1 + eo);
    *i = ri;
    *f = rf;
    *g = tanh_finish(mg, rg, g_sign);
    *o = ro;
}

#endif
