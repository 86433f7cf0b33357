/* Reduced-precision products (reduced.h): the micro-kernels, portable and
 * with dot-product instructions, and the driver that applies the scales.
 *
 * The micro-kernels only sum, into an MR x NR block of int32 (int8) or
 * float32 (bf16) on the stack; one store function per precision turns
 * that block into the tile, whichever kernel summed it, so that the int8
 * paths, whose sums are exact, give the same bits. */
#include "reduced.h"

#if VBYTES == 64 && defined(__AVX512F__) && !defined(LSTMF_DTYPE_F64)
#include <immintrin.h>
#define HAVE_DOT_KERNELS 1
#else
#define HAVE_DOT_KERNELS 0
#endif

/* ---------------------------------------------------------- portable */

/* acc (mr x NR) = biased rows of a times an int8 panel: sum over groups
 * of 4 k of (q + 128) w. */
static void int8_portable(int mr, int64_t groups, const uint8_t *a, int64_t lda, const int8_t *b,
                          int32_t *acc) {
    for (int r = 0; r < mr; r++) {
        int32_t *c = acc + r * GEMM_NR;
        for (int n = 0; n < GEMM_NR; n++) c[n] = 0;
        for (int64_t g = 0; g < groups; g++) {
            const uint8_t *ar = a + r * lda + 4 * g;
            const int8_t *bg = b + g * GEMM_NR * 4;
            const int32_t a0 = ar[0], a1 = ar[1], a2 = ar[2], a3 = ar[3];
            for (int n = 0; n < GEMM_NR; n++)
                c[n] += a0 * bg[4 * n] + a1 * bg[4 * n + 1] + a2 * bg[4 * n + 2] +
                        a3 * bg[4 * n + 3];
        }
    }
}

static inline float bf16_to_float(uint16_t v) {
    const uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* acc (mr x NR) = bf16 rows of a times a bf16 panel, in float32: the
 * converting path of CPUs without bf16 dot products. */
static void bf16_portable(int mr, int64_t groups, const uint16_t *a, int64_t lda,
                          const uint16_t *b, float *acc) {
    for (int r = 0; r < mr; r++) {
        float *c = acc + r * GEMM_NR;
        for (int n = 0; n < GEMM_NR; n++) c[n] = 0.0f;
        for (int64_t g = 0; g < groups; g++) {
            const uint16_t *ar = (const uint16_t *)((const char *)a + r * lda) + 2 * g;
            const uint16_t *bg = b + g * GEMM_NR * 2;
            const float a0 = bf16_to_float(ar[0]), a1 = bf16_to_float(ar[1]);
            for (int n = 0; n < GEMM_NR; n++) {
                c[n] += a0 * bf16_to_float(bg[2 * n]);
                c[n] += a1 * bf16_to_float(bg[2 * n + 1]);
            }
        }
    }
}

/* ------------------------------------------------- AVX-512 dot products */
#if HAVE_DOT_KERNELS
_Static_assert(GEMM_NR == 64, "the dot kernels take four 16-lane vectors per row");

static inline __attribute__((always_inline)) int32_t load4(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* VNNI: per group, 4 vectors of 16 columns x 4 k against each row's 4
 * bytes broadcast: 4*MR independent accumulators. */
__attribute__((target("avx512vnni"))) static inline __attribute__((always_inline)) void
vnni_rows(const int MR, int64_t groups, const uint8_t *a, int64_t lda, const int8_t *b,
          int32_t *acc) {
    __m512i c[Q_MR][4];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < 4; v++) c[r][v] = _mm512_setzero_si512();
    for (int64_t g = 0; g < groups; g++) {
        const int8_t *bg = b + g * 256;
        const __m512i b0 = _mm512_loadu_si512(bg), b1 = _mm512_loadu_si512(bg + 64);
        const __m512i b2 = _mm512_loadu_si512(bg + 128), b3 = _mm512_loadu_si512(bg + 192);
        for (int r = 0; r < MR; r++) {
            const __m512i av = _mm512_set1_epi32(load4(a + r * lda + 4 * g));
            c[r][0] = _mm512_dpbusd_epi32(c[r][0], av, b0);
            c[r][1] = _mm512_dpbusd_epi32(c[r][1], av, b1);
            c[r][2] = _mm512_dpbusd_epi32(c[r][2], av, b2);
            c[r][3] = _mm512_dpbusd_epi32(c[r][3], av, b3);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < 4; v++) _mm512_storeu_si512(acc + r * GEMM_NR + 16 * v, c[r][v]);
}

__attribute__((target("avx512vnni"))) static void int8_vnni(int mr, int64_t groups,
                                                            const uint8_t *a, int64_t lda,
                                                            const int8_t *b, int32_t *acc) {
    switch (mr) {
        case 1: vnni_rows(1, groups, a, lda, b, acc); break;
        case 2: vnni_rows(2, groups, a, lda, b, acc); break;
        case 3: vnni_rows(3, groups, a, lda, b, acc); break;
        case 4: vnni_rows(4, groups, a, lda, b, acc); break;
        case 5: vnni_rows(5, groups, a, lda, b, acc); break;
        default: vnni_rows(6, groups, a, lda, b, acc); break;
    }
}

/* AVX512-BF16: the same shape, each lane summing its column's pair of k. */
__attribute__((target("avx512bf16"))) static inline __attribute__((always_inline)) void
dpbf16_rows(const int MR, int64_t groups, const uint16_t *a, int64_t lda, const uint16_t *b,
            float *acc) {
    __m512 c[Q_MR][4];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < 4; v++) c[r][v] = _mm512_setzero_ps();
    for (int64_t g = 0; g < groups; g++) {
        const uint16_t *bg = b + g * 128;
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bg);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(bg + 32);
        const __m512bh b2 = (__m512bh)_mm512_loadu_si512(bg + 64);
        const __m512bh b3 = (__m512bh)_mm512_loadu_si512(bg + 96);
        for (int r = 0; r < MR; r++) {
            const __m512bh av =
                (__m512bh)_mm512_set1_epi32(load4((const char *)a + r * lda + 4 * g));
            c[r][0] = _mm512_dpbf16_ps(c[r][0], av, b0);
            c[r][1] = _mm512_dpbf16_ps(c[r][1], av, b1);
            c[r][2] = _mm512_dpbf16_ps(c[r][2], av, b2);
            c[r][3] = _mm512_dpbf16_ps(c[r][3], av, b3);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < 4; v++) _mm512_storeu_ps(acc + r * GEMM_NR + 16 * v, c[r][v]);
}

__attribute__((target("avx512bf16"))) static void bf16_dot(int mr, int64_t groups,
                                                           const uint16_t *a, int64_t lda,
                                                           const uint16_t *b, float *acc) {
    switch (mr) {
        case 1: dpbf16_rows(1, groups, a, lda, b, acc); break;
        case 2: dpbf16_rows(2, groups, a, lda, b, acc); break;
        case 3: dpbf16_rows(3, groups, a, lda, b, acc); break;
        case 4: dpbf16_rows(4, groups, a, lda, b, acc); break;
        case 5: dpbf16_rows(5, groups, a, lda, b, acc); break;
        default: dpbf16_rows(6, groups, a, lda, b, acc); break;
    }
}
#endif

/* -------------------------------------------------------------- stores */

/* The int8 block into c: (sum - 128 * column sum) * (row scale * column
 * scale), plus bias, written or added. */
static void store_int8(int mr, int nr, const int32_t *acc, const int32_t *colsum,
                       const float *wscale, const float *rscale, const real *bias, real *c,
                       int64_t ldc, int accumulate) {
    for (int r = 0; r < mr; r++) {
        const int32_t *s = acc + r * GEMM_NR;
        const float rs = rscale[r];
        real *cr = c + r * ldc;
        for (int n = 0; n < nr; n++) {
            real v = (real)((float)(s[n] - 128 * colsum[n]) * (rs * wscale[n]));
            if (bias) v += bias[n];
            cr[n] = accumulate ? cr[n] + v : v;
        }
    }
}

static void store_float(int mr, int nr, const float *acc, const real *bias, real *c, int64_t ldc,
                        int accumulate) {
    for (int r = 0; r < mr; r++) {
        const float *s = acc + r * GEMM_NR;
        real *cr = c + r * ldc;
        for (int n = 0; n < nr; n++) {
            real v = s[n];
            if (bias) v += bias[n];
            cr[n] = accumulate ? cr[n] + v : v;
        }
    }
}

void FN(reduced_rows_times)(const qmatrix *m, const qrows *a, int64_t n, int64_t p0, int64_t p1,
                            int64_t n_cols, const real *bias, real *c, int64_t ldc,
                            int accumulate) {
    const int dots = lstmf_dot_active();
    const int int8 = m->precision == LSTMF_PREC_INT8;
    const int64_t groups = m->kq / (int8 ? 4 : 2);
    union {
        int32_t i[Q_MR * GEMM_NR];
        float f[Q_MR * GEMM_NR];
    } acc __attribute__((aligned(64)));
    (void)dots;
    for (int64_t p = p0; p < p1; p++) {
        const int64_t col = (p - p0) * GEMM_NR;
        if (col >= n_cols) break;
        const int nr = (int)(n_cols - col < GEMM_NR ? n_cols - col : GEMM_NR);
        const char *panel = (const char *)m->panels + p * m->panel_bytes;
        const real *bias_p = bias ? bias + col : NULL;
        for (int64_t i = 0; i < n; i += Q_MR) {
            const int mr = (int)(n - i < Q_MR ? n - i : Q_MR);
            const char *ai = (const char *)a->a + i * a->lda;
            if (int8) {
#if HAVE_DOT_KERNELS
                if (dots & LSTMF_DOT_VNNI)
                    int8_vnni(mr, groups, (const uint8_t *)ai, a->lda, (const int8_t *)panel,
                              acc.i);
                else
#endif
                    int8_portable(mr, groups, (const uint8_t *)ai, a->lda,
                                  (const int8_t *)panel, acc.i);
                store_int8(mr, nr, acc.i, m->colsum + p * GEMM_NR, m->scale + p * GEMM_NR,
                           a->rscale + i, bias_p, c + i * ldc + col, ldc, accumulate);
            } else {
#if HAVE_DOT_KERNELS
                if (dots & LSTMF_DOT_BF16)
                    bf16_dot(mr, groups, (const uint16_t *)ai, a->lda, (const uint16_t *)panel,
                             acc.f);
                else
#endif
                    bf16_portable(mr, groups, (const uint16_t *)ai, a->lda,
                                  (const uint16_t *)panel, acc.f);
                store_float(mr, nr, acc.f, bias_p, c + i * ldc + col, ldc, accumulate);
            }
        }
    }
}
