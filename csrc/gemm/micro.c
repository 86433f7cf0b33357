/* The GEMM micro-kernel: an MR x NR block of C kept in MR*NV vector
 * registers over the whole K loop. Written once with vector extensions; the
 * compiler flags of the variant (blocksizes.h) decide its width.
 *
 * A element (r, k) is read at A[r*rsa + k*csa], in place: the recurrent
 * steps pass their row-major operands (rsa = lda, csa = 1), the weight
 * gradients [x, h]^T, column-major (rsa = 1, csa = D + H).
 * Bp is one packed panel, element (k, n) at Bp[k*NR + n].
 */
#include "gemm.h"

_Static_assert(GEMM_MR == 6, "gemm_micro has one case per row count up to 6");
_Static_assert(GEMM_NV % 2 == 0, "narrow panels use half of the NV vectors");

#define ROW_NV (GEMM_ROW_PANELS * GEMM_NV)

/* acc (mr x nv vectors) += A (mr x K, element (r, k) at A[r*rsa + k*csa])
 * times Bp: one packed K x NR panel, or, for the single-row kernel
 * (gemm_micro_row), nv / NV panels side by side, each bstride elements
 * after the one before. Two k steps per iteration: half the loop's pointer
 * and counter updates, which otherwise take issue slots from the FMAs. */
LSTMF_INLINE void micro_accumulate(vreal acc[GEMM_MR][ROW_NV], const int mr, const int nv,
                                   int64_t K, const real *A, int64_t rsa, int64_t csa,
                                   const real *Bp, int64_t bstride) {
#pragma GCC unroll 2
    for (int64_t k = 0; k < K; k++) {
        vreal b[ROW_NV];
        for (int v = 0; v < nv; v++)
            b[v] = vload(Bp + v / GEMM_NV * bstride + k * GEMM_NR + v % GEMM_NV * VLEN);
        for (int r = 0; r < mr; r++) {
            const real a = A[r * rsa + k * csa];
            for (int v = 0; v < nv; v++) acc[r][v] = vfma_s(a, b[v], acc[r][v]);
        }
    }
}

/* nv <= NV vectors of the panel are computed: a narrow C (nr <= NR/2)
 * skips the zero half of the panel instead of multiplying it. A second
 * product (K2 terms of A2 and Bp2, gemm_micro_pair) goes first into the
 * same sums. */
LSTMF_INLINE void micro_body(const int mr, const int nv, int nr, int64_t K,
                             const real *A, int64_t rsa, int64_t csa,
                             const real *Bp, int64_t bstride, int64_t K2, const real *A2,
                             int64_t rsa2, const real *Bp2, int64_t bstride2,
                             const real *bias, real *C, int64_t ldc, int accumulate) {
    vreal acc[GEMM_MR][ROW_NV];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = vset1(0);
    micro_accumulate(acc, mr, nv, K2, A2, rsa2, 1, Bp2, bstride2);
    micro_accumulate(acc, mr, nv, K, A, rsa, csa, Bp, bstride);

    if (bias) {
        for (int v = 0; v < nv && v * VLEN < nr; v++) {
            vreal bv = vload_upto(bias + v * VLEN, nr - v * VLEN);
            for (int r = 0; r < mr; r++) acc[r][v] += bv;
        }
    }
    for (int r = 0; r < mr; r++) {
        real *c = C + r * ldc;
        for (int v = 0; v < nv; v++) {
            int left = nr - v * VLEN;
            if (left <= 0) break;
            vreal out = acc[r][v];
            if (accumulate) out += vload_upto(c + v * VLEN, left);
            vstore_upto(c + v * VLEN, out, left);
        }
    }
}

/* One copy of the body per row count and width, so every loop is unrolled
 * with constant bounds and the accumulators live in registers. A C at most
 * one vector wide (the input gradient dx_t = dZ_t W_ih with D <= VLEN, the
 * last panel of a weight gradient) gets its own copy: with NV/2 vectors it
 * multiplied zeros at the cost of the FMAs it wasted, with one vector it is
 * bounded by the loads of A instead. */
#define MICRO_CASE(MRV)                                                        \
    case MRV:                                                                  \
        if (GEMM_NV > 2 && nr <= VLEN)                                         \
            micro_body(MRV, 1, nr, K, A, rsa, csa, Bp, 0, K2, A2, rsa2, Bp2,   \
                       0, bias, C, ldc, accumulate);                           \
        else if (nr <= GEMM_NR / 2)                                            \
            micro_body(MRV, GEMM_NV / 2, nr, K, A, rsa, csa, Bp, 0, K2, A2,    \
                       rsa2, Bp2, 0, bias, C, ldc, accumulate);                \
        else                                                                   \
            micro_body(MRV, GEMM_NV, nr, K, A, rsa, csa, Bp, 0, K2, A2, rsa2,  \
                       Bp2, 0, bias, C, ldc, accumulate);                      \
        break;

#define MICRO_SWITCH                                                           \
    switch (mr) {                                                              \
        MICRO_CASE(1)                                                          \
        MICRO_CASE(2)                                                          \
        MICRO_CASE(3)                                                          \
        MICRO_CASE(4)                                                          \
        MICRO_CASE(5)                                                          \
        MICRO_CASE(6)                                                          \
        default: break;                                                        \
    }

void FN(gemm_micro)(int mr, int nr, int64_t K, const real *A, int64_t rsa,
                    int64_t csa, const real *Bp, const real *bias, real *C, int64_t ldc,
                    int accumulate) {
    /* No second product: the constant K2 = 0 removes its loop. */
    const int64_t K2 = 0, rsa2 = 0;
    const real *A2 = NULL, *Bp2 = NULL;
    MICRO_SWITCH
}

void FN(gemm_micro_pair)(int mr, int nr, int64_t K2, const real *A2, int64_t rsa2,
                         const real *Bp2, int64_t K, const real *A, int64_t rsa,
                         const real *Bp, real *C, int64_t ldc) {
    const int64_t csa = 1;
    const real *bias = NULL;
    const int accumulate = 0;
    MICRO_SWITCH
}

/* The single-row kernel's copies: 2 .. GEMM_ROW_PANELS panels, all NV vectors
 * of each computed (a narrow last panel's zero columns are multiplied but
 * not stored). */
#define ROW_CASE(NP)                                                            \
    case NP:                                                                    \
        micro_body(1, (NP) * GEMM_NV, nr, K, A, 0, 1, Bp, bstride, K2, A2, 0,   \
                   Bp2, bstride2, bias, C, 0, accumulate);                      \
        break;

void FN(gemm_micro_row)(int nr, int64_t K2, const real *A2, const real *Bp2,
                        int64_t bstride2, int64_t K, const real *A, const real *Bp,
                        int64_t bstride, const real *bias, real *C, int accumulate) {
    if (nr <= GEMM_NR) { /* one panel: gemm_micro's narrower copies */
        if (K2) FN(gemm_micro_pair)(1, nr, K2, A2, 0, Bp2, K, A, 0, Bp, C, 0);
        else FN(gemm_micro)(1, nr, K, A, 0, 1, Bp, bias, C, 0, accumulate);
        return;
    }
    switch ((nr + GEMM_NR - 1) / GEMM_NR) {
        ROW_CASE(2)
#if GEMM_ROW_PANELS > 2
        ROW_CASE(3)
        ROW_CASE(4)
#endif
        default: break;
    }
}
