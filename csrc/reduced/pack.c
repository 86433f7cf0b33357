/* Packing of reduced-precision weights and conversion of the rows that
 * multiply them (reduced.h). */
#include "reduced.h"
#include "../memory.h"
#include "../simd/vec.h"
#if VBYTES == 64 && defined(__AVX512F__)
#include <immintrin.h>
#endif

static int64_t group_of(int precision) { return precision == LSTMF_PREC_INT8 ? 4 : 2; }
static int64_t elem_bytes(int precision) { return precision == LSTMF_PREC_INT8 ? 1 : 2; }

/* Bytes of one panel, a multiple of 64 (so each panel starts aligned). */
static int64_t panel_bytes(int precision, int64_t K) {
    const int64_t g = group_of(precision);
    const int64_t bytes = lstmf_mul(lstmf_mul((K + g - 1) / g * g, GEMM_NR), elem_bytes(precision));
    return bytes < 0 ? -1 : (bytes + 63) / 64 * 64;
}

static int64_t panels_of(int64_t N) { return (N + GEMM_NR - 1) / GEMM_NR; }

int64_t FN(reduced_packed_bytes)(int precision, int64_t K, int64_t N) {
    const int64_t cols = lstmf_mul(panels_of(N), GEMM_NR);
    const int64_t panels = lstmf_mul(panels_of(N), panel_bytes(precision, K));
    /* int8: the column scales and column sums after the panels. */
    return precision == LSTMF_PREC_INT8 ? lstmf_add(panels, lstmf_mul(cols, 8)) : panels;
}

qmatrix FN(reduced_view)(int precision, int64_t K, int64_t N, const void *base) {
    const int64_t g = group_of(precision), pb = panel_bytes(precision, K);
    const int64_t cols = panels_of(N) * GEMM_NR;
    const char *tail = (const char *)base + panels_of(N) * pb;
    const int int8 = precision == LSTMF_PREC_INT8;
    return (qmatrix){.precision = precision, .K = K, .kq = (K + g - 1) / g * g,
                     .N = cols, .panels = base, .panel_bytes = pb,
                     .scale = int8 ? (const float *)tail : NULL,
                     .colsum = int8 ? (const int32_t *)(tail + cols * 4) : NULL};
}

void FN(reduced_pack)(int precision, int64_t K, int64_t N, const void *w, int64_t rows,
                      const float *scale, const int64_t *col_map, void *base) {
    const qmatrix m = FN(reduced_view)(precision, K, N, base);
    const int64_t g = group_of(precision);
    for (int64_t n = 0; n < m.N; n++) {
        int64_t src = col_map ? (n < N ? col_map[n] : -1) : n;
        if (src >= rows) src = -1;
        const int64_t p = n / GEMM_NR, col = n % GEMM_NR;
        char *panel = (char *)base + p * m.panel_bytes;
        int32_t sum = 0;
        for (int64_t k = 0; k < m.kq; k++) {
            /* Element (k, col) of the panel: group k / g, column col, slot k % g. */
            const int64_t at = ((k / g) * GEMM_NR + col) * g + k % g;
            if (precision == LSTMF_PREC_INT8) {
                const int8_t v = src >= 0 && k < K ? ((const int8_t *)w)[src * K + k] : 0;
                ((int8_t *)panel)[at] = v;
                sum += v;
            } else {
                ((uint16_t *)panel)[at] =
                    src >= 0 && k < K ? ((const uint16_t *)w)[src * K + k] : 0;
            }
        }
        if (precision == LSTMF_PREC_INT8) {
            ((float *)m.scale)[n] = src >= 0 ? scale[src] : 0.0f;
            ((int32_t *)m.colsum)[n] = sum;
        }
    }
}

/* float32 -> bfloat16, to nearest, ties to even (finite values; a NaN
 * stays a NaN, an infinity an infinity). */
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return (uint16_t)((u >> 16) | ((u & 0xffff) ? 0x40 : 0));
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* 16 float32 lanes, whatever the ISA (narrower ones take it in parts). */
typedef float f32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));
typedef uint32_t u32x16 __attribute__((vector_size(64)));
typedef uint8_t u8x16 __attribute__((vector_size(16)));
typedef uint16_t u16x16 __attribute__((vector_size(32)));

/* q[k] = round(x[k] * inv) + 128, to the nearest integer, ties to even:
 * adding and subtracting 1.5 * 2^(mantissa bits) leaves no fraction bits
 * (|x * inv| <= 127). Not contracted into an FMA (which would round x * inv
 * unrounded), so that every variant gives nearbyint(x * inv)'s bits. */
NO_CONTRACT_FN static void quantize_row(const real *x, int64_t K, real inv, uint8_t *q) {
    NO_CONTRACT_BODY
    const real magic = sizeof(real) == 4 ? (real)12582912.0f : (real)6755399441055744.0;
    for (int64_t k = 0; k < K; k += VLEN) {
        const int n = (int)(K - k < VLEN ? K - k : VLEN);
        vreal v = vload_upto(x + k, n) * inv;
        v = (v + magic) - magic;
        const vint i = __builtin_convertvector(v, vint) + 128;
#if VBYTES == 64 && defined(__AVX512F__) && !defined(LSTMF_DTYPE_F64)
        _mm512_mask_cvtepi32_storeu_epi8(q + k, (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1),
                                         (__m512i)i);
#else
        for (int l = 0; l < n; l++) q[k + l] = (uint8_t)i[l];
#endif
    }
}

/* max |x_k| of a row (0 for none), or NaN if a value is not finite. */
static real row_amax(const real *x, int64_t K) {
    vreal m = vset1(0);
    vint finite = ~(vint){0};
    for (int64_t k = 0; k < K; k += VLEN) {
        const int n = (int)(K - k < VLEN ? K - k : VLEN);
        const vreal v = vmax(vload_upto(x + k, n), -vload_upto(x + k, n)); /* |x| */
        finite &= v - v == 0;
        m = vmax(m, v);
    }
#if VBYTES == 64 && defined(__AVX512F__) && !defined(LSTMF_DTYPE_F64)
    /* Trees of shuffles, not a chain of 15 dependent maxima. */
    const real amax = _mm512_reduce_max_ps((__m512)m);
    const int ok = _mm512_reduce_and_epi32((__m512i)finite) != 0;
#else
    real amax = 0;
    int ok = 1;
    for (int l = 0; l < VLEN; l++) {
        amax = m[l] > amax ? m[l] : amax;
        ok &= finite[l] != 0;
    }
#endif
    return ok ? amax : (real)NAN;
}

/* A row to bfloat16 bits (to_bf16's rounding; whole vectors of finite
 * values at once). */
static void bf16_row(const float *x, int64_t K, uint16_t *q) {
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        u32x16 u;
        memcpy(&u, x + k, sizeof u);
        const i32x16 special = (u & 0x7f800000u) == 0x7f800000u;
        int any = 0;
        for (int l = 0; l < 16; l++) any |= special[l];
        if (any) break;
        u += 0x7fffu + ((u >> 16) & 1u);
        const u16x16 b = __builtin_convertvector(u >> 16, u16x16);
        memcpy(q + k, &b, sizeof b);
    }
    for (; k < K; k++) q[k] = to_bf16(x[k]);
}

qrows FN(reduced_convert_rows)(int precision, const real *src, int64_t ld, int64_t n, int64_t K,
                               void *buf) {
    const int64_t g = group_of(precision), kq = (K + g - 1) / g * g;
    const int64_t lda = kq * elem_bytes(precision);
    float *rscale = buf;
    char *a = (char *)buf + (n * (int64_t)sizeof(float) + 63) / 64 * 64;
    for (int64_t r = 0; r < n; r++) {
        const real *x = src + r * ld;
        if (precision == LSTMF_PREC_BF16) {
            uint16_t *q = (uint16_t *)(a + r * lda);
#ifdef LSTMF_DTYPE_F64
            for (int64_t k = 0; k < K; k++) q[k] = to_bf16((float)x[k]);
#else
            bf16_row(x, K, q);
#endif
            for (int64_t k = K; k < kq; k++) q[k] = 0;
            continue;
        }
        /* A non-finite value makes the row's scale NaN (and its q zero),
         * so that it reaches the outputs as it would in float32. */
        const real amax = row_amax(x, K);
        uint8_t *q = (uint8_t *)(a + r * lda);
        rscale[r] = (float)amax / 127.0f;
        if (amax > 0) quantize_row(x, K, (real)(127.0f / (float)amax), q);
        else memset(q, 128, (size_t)K);
        memset(q + K, 128, (size_t)(kq - K));
    }
    return (qrows){.a = a, .lda = lda, .rscale = rscale};
}
