/* Reduced-precision products (reduced.h): the micro-kernels, portable and
 * with dot-product instructions, and the driver over panels and rows.
 *
 * A micro-kernel sums up to MR rows by one panel and stores the block into
 * the tile itself (qblock: the scales, bias, written or added). The int8
 * sums are exact and every path turns them into floats by the same
 * operations in the same order, none contracted into an FMA: (float)(sum -
 * 128 * column sum) * (row scale * column scale), + bias, + the tile; so
 * the int8 paths give the same bits. */
#include "reduced.h"
#include "../config.h"

#if VBYTES == 64 && defined(__AVX512F__) && !defined(LSTMF_DTYPE_F64)
#include <immintrin.h>
#define HAVE_DOT_KERNELS 1
#else
#define HAVE_DOT_KERNELS 0
#endif

/* Where and how a micro-kernel stores its block (reduced_rows_times). */
typedef struct {
    int nr;                /* columns stored, <= GEMM_NR */
    const int32_t *colsum; /* int8: the panel's column sums */
    const float *wscale;   /* int8: the panel's column scales */
    const float *rscale;   /* int8: the block's row scales */
    const real *bias;      /* NULL, or the panel's columns' */
    real *c;               /* row r at c + r * ldc */
    int64_t ldc;
    int accumulate;        /* add to c, else write */
} qblock;

/* ---------------------------------------------------------- portable */

/* acc (mr x NR) = biased rows of a times an int8 panel: sum over groups
 * of 4 k of (q + 128) w. */
/* The int8 block into the tile, as the header says; branches on the
 * flags hoisted out of the column loop by the compiler. */
NO_CONTRACT_FN static void store_int8(int mr, const int32_t *acc, const qblock *o) {
    NO_CONTRACT_BODY
    for (int r = 0; r < mr; r++) {
        const int32_t *s = acc + r * GEMM_NR;
        const float rs = o->rscale[r];
        real *cr = o->c + r * o->ldc;
        for (int n = 0; n < o->nr; n++) {
            real v = (real)((float)(s[n] - 128 * o->colsum[n]) * (rs * o->wscale[n]));
            if (o->bias) v += o->bias[n];
            cr[n] = o->accumulate ? cr[n] + v : v;
        }
    }
}

static void store_float(int mr, const float *acc, const qblock *o) {
    for (int r = 0; r < mr; r++) {
        const float *s = acc + r * GEMM_NR;
        real *cr = o->c + r * o->ldc;
        for (int n = 0; n < o->nr; n++) {
            real v = s[n];
            if (o->bias) v += o->bias[n];
            cr[n] = o->accumulate ? cr[n] + v : v;
        }
    }
}

static void int8_portable(int mr, int64_t groups, const uint8_t *a, int64_t lda, const int8_t *b,
                          const qblock *o) {
    int32_t acc[Q_MR * GEMM_NR];
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
    store_int8(mr, acc, o);
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
                          const uint16_t *b, const qblock *o) {
    float acc[Q_MR * GEMM_NR];
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
    store_float(mr, acc, o);
}

/* ------------------------------------------------- AVX-512 dot products */
#if HAVE_DOT_KERNELS
_Static_assert(GEMM_NR == 64 && Q_MR == 6,
               "the dot kernels take six rows of four 16-lane vectors");

/* c += the dot products of a and b, in place: the intrinsics left GCC 12
 * copying the accumulators between registers and the stack at every use
 * (their result is a new value; the instruction overwrites its first
 * operand). */
#define DPBUSD(c, a, b) __asm__("vpdpbusd %2, %1, %0" : "+v"(c) : "v"(a), "v"(b))
#define DPBF16PS(c, a, b) __asm__("vdpbf16ps %2, %1, %0" : "+v"(c) : "v"(a), "v"(b))

static inline __attribute__((always_inline)) int32_t load4(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* VNNI: per group, 4 vectors of 16 columns x 4 k against each row's 4
 * bytes broadcast: 4*MR independent accumulators, named one by one (an
 * array of them left GCC copying and spilling registers). */
#define VNNI_DECL(r) __m512i c##r##0 = z0, c##r##1 = z1, c##r##2 = z2, c##r##3 = z3
#define VNNI_ROW(r)                                                                   \
    if (MR > r) {                                                                     \
        const __m512i av = _mm512_set1_epi32(load4(a + r * lda + 4 * g));           \
        DPBUSD(c##r##0, av, b0);                              \
        DPBUSD(c##r##1, av, b1);                              \
        DPBUSD(c##r##2, av, b2);                              \
        DPBUSD(c##r##3, av, b3);                              \
    }
/* One vector of row r: the header's operations, masked to the stored
 * columns. */
#define STORE_VEC(r, v, x)                                                            \
    do {                                                                              \
        real *dst = o->c + r * o->ldc + 16 * v;                                       \
        __m512 p = x;                                                                 \
        if (o->bias) p = _mm512_add_ps(p, _mm512_maskz_loadu_ps(mk##v, o->bias + 16 * v)); \
        if (o->accumulate) p = _mm512_add_ps(_mm512_maskz_loadu_ps(mk##v, dst), p);  \
        _mm512_mask_storeu_ps(dst, mk##v, p);                                         \
    } while (0)
#define SCALED(r, v) \
    _mm512_mul_ps(_mm512_cvtepi32_ps(c##r##v), _mm512_mul_ps(rs, ws##v))
#define VNNI_STORE(r)                                                                 \
    if (MR > r) {                                                                     \
        const __m512 rs = _mm512_set1_ps(o->rscale[r]);                               \
        STORE_VEC(r, 0, SCALED(r, 0));                                                \
        STORE_VEC(r, 1, SCALED(r, 1));                                                \
        STORE_VEC(r, 2, SCALED(r, 2));                                                \
        STORE_VEC(r, 3, SCALED(r, 3));                                                \
    }

/* The column masks of the stored columns, and the column scales. */
#define BLOCK_MASKS                                                                   \
    const __mmask16 mk0 = stored_mask(o->nr, 0), mk1 = stored_mask(o->nr, 1);        \
    const __mmask16 mk2 = stored_mask(o->nr, 2), mk3 = stored_mask(o->nr, 3)

static inline __attribute__((always_inline)) __mmask16 stored_mask(int nr, int v) {
    const int n = nr - 16 * v;
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

__attribute__((target("avx512vnni"))) static inline __attribute__((always_inline)) void
vnni_rows(const int MR, int64_t groups, const uint8_t *a, int64_t lda, const int8_t *b,
          const qblock *o) {
    /* Each sum starts at -128 * its column sum (the bias of the rows). */
    const __m512i z0 = _mm512_sub_epi32(_mm512_setzero_si512(),
                                        _mm512_slli_epi32(_mm512_loadu_si512(o->colsum), 7));
    const __m512i z1 = _mm512_sub_epi32(_mm512_setzero_si512(),
                                        _mm512_slli_epi32(_mm512_loadu_si512(o->colsum + 16), 7));
    const __m512i z2 = _mm512_sub_epi32(_mm512_setzero_si512(),
                                        _mm512_slli_epi32(_mm512_loadu_si512(o->colsum + 32), 7));
    const __m512i z3 = _mm512_sub_epi32(_mm512_setzero_si512(),
                                        _mm512_slli_epi32(_mm512_loadu_si512(o->colsum + 48), 7));
    VNNI_DECL(0); VNNI_DECL(1); VNNI_DECL(2); VNNI_DECL(3); VNNI_DECL(4); VNNI_DECL(5);
    for (int64_t g = 0; g < groups; g++) {
        const int8_t *bg = b + g * 256;
        const __m512i b0 = _mm512_loadu_si512(bg), b1 = _mm512_loadu_si512(bg + 64);
        const __m512i b2 = _mm512_loadu_si512(bg + 128), b3 = _mm512_loadu_si512(bg + 192);
        VNNI_ROW(0) VNNI_ROW(1) VNNI_ROW(2) VNNI_ROW(3) VNNI_ROW(4) VNNI_ROW(5)
    }
    BLOCK_MASKS;
    const __m512 ws0 = _mm512_loadu_ps(o->wscale), ws1 = _mm512_loadu_ps(o->wscale + 16);
    const __m512 ws2 = _mm512_loadu_ps(o->wscale + 32), ws3 = _mm512_loadu_ps(o->wscale + 48);
    VNNI_STORE(0) VNNI_STORE(1) VNNI_STORE(2) VNNI_STORE(3) VNNI_STORE(4) VNNI_STORE(5)
}

__attribute__((target("avx512vnni"))) static void int8_vnni(int mr, int64_t groups,
                                                            const uint8_t *a, int64_t lda,
                                                            const int8_t *b, const qblock *o) {
    switch (mr) {
        case 1: vnni_rows(1, groups, a, lda, b, o); break;
        case 2: vnni_rows(2, groups, a, lda, b, o); break;
        case 3: vnni_rows(3, groups, a, lda, b, o); break;
        case 4: vnni_rows(4, groups, a, lda, b, o); break;
        case 5: vnni_rows(5, groups, a, lda, b, o); break;
        default: vnni_rows(6, groups, a, lda, b, o); break;
    }
}

/* AVX512-BF16: the same shape, each lane summing its column's pair of k. */
#define BF16_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = c##r##0, \
                            c##r##2 = c##r##0, c##r##3 = c##r##0
#define BF16_ROW(r)                                                                   \
    if (MR > r) {                                                                     \
        const __m512bh av =                                                           \
            (__m512bh)_mm512_set1_epi32(load4((const char *)a + r * lda + 4 * g));   \
        DPBF16PS(c##r##0, av, b0);                                 \
        DPBF16PS(c##r##1, av, b1);                                 \
        DPBF16PS(c##r##2, av, b2);                                 \
        DPBF16PS(c##r##3, av, b3);                                 \
    }
#define BF16_STORE(r)                                                                 \
    if (MR > r) {                                                                     \
        STORE_VEC(r, 0, c##r##0);                                                     \
        STORE_VEC(r, 1, c##r##1);                                                     \
        STORE_VEC(r, 2, c##r##2);                                                     \
        STORE_VEC(r, 3, c##r##3);                                                     \
    }

__attribute__((target("avx512bf16"))) static inline __attribute__((always_inline)) void
dpbf16_rows(const int MR, int64_t groups, const uint16_t *a, int64_t lda, const uint16_t *b,
            const qblock *o) {
    BF16_DECL(0); BF16_DECL(1); BF16_DECL(2); BF16_DECL(3); BF16_DECL(4); BF16_DECL(5);
    for (int64_t g = 0; g < groups; g++) {
        const uint16_t *bg = b + g * 128;
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bg);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(bg + 32);
        const __m512bh b2 = (__m512bh)_mm512_loadu_si512(bg + 64);
        const __m512bh b3 = (__m512bh)_mm512_loadu_si512(bg + 96);
        BF16_ROW(0) BF16_ROW(1) BF16_ROW(2) BF16_ROW(3) BF16_ROW(4) BF16_ROW(5)
    }
    BLOCK_MASKS;
    BF16_STORE(0) BF16_STORE(1) BF16_STORE(2) BF16_STORE(3) BF16_STORE(4) BF16_STORE(5)
}

__attribute__((target("avx512bf16"))) static void bf16_dot(int mr, int64_t groups,
                                                           const uint16_t *a, int64_t lda,
                                                           const uint16_t *b, const qblock *o) {
    switch (mr) {
        case 1: dpbf16_rows(1, groups, a, lda, b, o); break;
        case 2: dpbf16_rows(2, groups, a, lda, b, o); break;
        case 3: dpbf16_rows(3, groups, a, lda, b, o); break;
        case 4: dpbf16_rows(4, groups, a, lda, b, o); break;
        case 5: dpbf16_rows(5, groups, a, lda, b, o); break;
        default: dpbf16_rows(6, groups, a, lda, b, o); break;
    }
}
#endif

void FN(reduced_rows_times)(const qmatrix *m, const qrows *a, int64_t n, int64_t p0, int64_t p1,
                            int64_t n_cols, const real *bias, real *c, int64_t ldc,
                            int accumulate) {
    const int dots = lstmf_dot_active();
    const int int8 = m->precision == LSTMF_PREC_INT8;
    const int64_t groups = m->kq / (int8 ? 4 : 2);
    (void)dots;
    for (int64_t p = p0; p < p1; p++) {
        const int64_t col = (p - p0) * GEMM_NR;
        if (col >= n_cols) break;
        const char *panel = (const char *)m->panels + p * m->panel_bytes;
        qblock o = {.nr = (int)(n_cols - col < GEMM_NR ? n_cols - col : GEMM_NR),
                    .colsum = int8 ? m->colsum + p * GEMM_NR : NULL,
                    .wscale = int8 ? m->scale + p * GEMM_NR : NULL,
                    .bias = bias ? bias + col : NULL, .ldc = ldc, .accumulate = accumulate};
        for (int64_t i = 0; i < n; i += Q_MR) {
            const int mr = (int)(n - i < Q_MR ? n - i : Q_MR);
            const char *ai = (const char *)a->a + i * a->lda;
            o.c = c + i * ldc + col;
            o.rscale = int8 ? a->rscale + i : NULL;
            if (int8) {
#if HAVE_DOT_KERNELS
                if (dots & LSTMF_DOT_VNNI) {
                    int8_vnni(mr, groups, (const uint8_t *)ai, a->lda, (const int8_t *)panel, &o);
                    continue;
                }
#endif
                int8_portable(mr, groups, (const uint8_t *)ai, a->lda, (const int8_t *)panel, &o);
            } else {
#if HAVE_DOT_KERNELS
                if (dots & LSTMF_DOT_BF16) {
                    bf16_dot(mr, groups, (const uint16_t *)ai, a->lda, (const uint16_t *)panel,
                             &o);
                    continue;
                }
#endif
                bf16_portable(mr, groups, (const uint16_t *)ai, a->lda, (const uint16_t *)panel,
                              &o);
            }
        }
    }
}
