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
 * for float64) reaches the dtype's precision at a fraction of the cost. */
LSTMF_INLINE vreal vrecip(vreal x) {
#if defined(__AVX512F__) && VBYTES == 64
#ifdef LSTMF_DTYPE_F64
    vreal r = (vreal)_mm512_rcp14_pd((__m512d)x);
    r = r * (2 - x * r);
#else
    vreal r = (vreal)_mm512_rcp14_ps((__m512)x);
#endif
    return r * (2 - x * r);
#else
    return 1 / x;
#endif
}

#ifdef LSTMF_DTYPE_F64
#define EXP_LO (-708.0)
#define EXP_HI 709.0
#define EXP_MANT_BITS 52
#define EXP_BIAS 1023
#define ROUND_MAGIC 6755399441055744.0 /* 1.5 * 2^52: x + M - M rounds to nearest */
#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10
#define TANH_SMALL 0.3
#else
#define EXP_LO (-87.0f)
#define EXP_HI 88.0f
#define EXP_MANT_BITS 23
#define EXP_BIAS 127
#define ROUND_MAGIC 12582912.0f /* 1.5 * 2^23 */
#define LN2_HI 0.693359375f
#define LN2_LO (-2.12194440e-4f)
#define TANH_SMALL 0.3f
#endif

/* exp(x) = 2^n * exp(r), r = x - n ln2 in [-ln2/2, ln2/2] (Cody-Waite), and
 * exp(r) from its Taylor series, long enough for the dtype's precision. */
LSTMF_INLINE vreal vexp(vreal x) {
    /* Bound first in min/max's second operand, which x86 returns when the
     * other is NaN: a NaN input stays NaN instead of becoming a bound. */
    x = vmin(vset1(EXP_HI), vmax(vset1(EXP_LO), x));
    vreal n = (x * (real)1.44269504088896340736 + ROUND_MAGIC) - ROUND_MAGIC;
    vreal r = (x - n * LN2_HI) - n * LN2_LO;
#ifdef LSTMF_DTYPE_F64
    vreal p = vset1(1.0 / 6227020800.0);          /* 1/13! */
    p = p * r + 1.0 / 479001600.0;                /* 1/12! */
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
#else
    vreal p = vset1(1.0f / 5040.0f);              /* 1/7! */
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
#endif
    p = p * r + 1;
    p = p * r + 1;
    vint bits = (__builtin_convertvector(n, vint) + EXP_BIAS) << EXP_MANT_BITS;
    return p * (vreal)bits;
}

LSTMF_INLINE vreal vsigmoid(vreal x) { return vrecip(1 + vexp(-x)); }

/* tanh: odd Taylor series near 0 (where (1-e)/(1+e) would cancel), and
 * (1 - e)/(1 + e) with e = exp(-2|x|) elsewhere; the sign is put back last. */
LSTMF_INLINE vreal vtanh(vreal x) {
    const vint sign_mask = (vint){0} + (vint_lane)(sizeof(real) == 8 ? INT64_MIN : INT32_MIN);
    vint sign = (vint)x & sign_mask;
    vreal a = (vreal)((vint)x & ~sign_mask);
    vreal e = vexp(-2 * a);
    vreal large = (1 - e) * vrecip(1 + e);
    vreal s = a * a;
#ifdef LSTMF_DTYPE_F64
    vreal p = vset1(-6.451689215655431e-06);
    p = p * s + 1.5918905069328964e-05;
    p = p * s - 3.927832388331683e-05;
    p = p * s + 9.691537956929451e-05;
    p = p * s - 0.00023912911424355248;
    p = p * s + 0.000590027440945586;
    p = p * s - 0.0014558343870513183;
    p = p * s + 0.003592128036572481;
    p = p * s - 0.008863235529902197;
    p = p * s + 0.021869488536155203;
    p = p * s - 0.05396825396825397;
#else
    vreal p = vset1(-0.0014558344f);
    p = p * s + 0.0035921280f;
    p = p * s - 0.0088632355f;
    p = p * s + 0.0218694885f;
    p = p * s - 0.0539682540f;
#endif
    p = p * s + (real)0.13333333333333333;
    p = p * s - (real)0.3333333333333333;
    vreal small = a + a * (p * s);
    vreal t = vselect(a < TANH_SMALL, small, large);
    return (vreal)((vint)t | sign);
}

#endif
