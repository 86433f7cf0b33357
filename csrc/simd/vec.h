/* Portable SIMD vectors for the kernel sources.
 *
 * One source, several ISAs: the vector width follows the -m flags the file is
 * compiled with (16 bytes for the x86-64 baseline and for other
 * architectures, 32 with AVX2, 64 with AVX-512), and GCC/Clang vector
 * extensions turn the arithmetic below into the matching instructions.
 * `vint` is the integer vector with as many lanes as `vreal`; comparisons
 * of vreals give vint masks (all ones or zero per lane).
 */
#ifndef LSTMF_VEC_H
#define LSTMF_VEC_H

#include <string.h>
#include "../config.h"

#if defined(__AVX512F__)
#define VBYTES 64
#elif defined(__AVX2__)
#define VBYTES 32
#else
#define VBYTES 16
#endif

#define VLEN ((int)(VBYTES / sizeof(real)))

#ifdef LSTMF_DTYPE_F64
typedef int64_t vint_lane;
#else
typedef int32_t vint_lane;
#endif

typedef real vreal __attribute__((vector_size(VBYTES)));
typedef vint_lane vint __attribute__((vector_size(VBYTES)));

/* Unaligned loads and stores; memcpy compiles to a single vector move. */
LSTMF_INLINE vreal vload(const real *p) { vreal v; memcpy(&v, p, sizeof v); return v; }
LSTMF_INLINE void vstore(real *p, vreal v) { memcpy(p, &v, sizeof v); }
/* Broadcast (written lane by lane: {0} + x would turn -0.0 into +0.0). */
LSTMF_INLINE vreal vset1(real x) {
    vreal v;
    for (int i = 0; i < VLEN; i++) v[i] = x;
    return v;
}

/* Loads and stores of the first n < VLEN lanes, for row tails. With
 * AVX-512 and AVX2 one masked instruction; elsewhere a memcpy, which inside
 * a kernel is a call that makes the compiler spill every live vector around
 * it, slowing the whole loop for the mere presence of the tail path. */
#if defined(__AVX512F__) && VBYTES == 64
#include <immintrin.h>
#ifdef LSTMF_DTYPE_F64
#define VMASK_(n) ((__mmask8)((1u << (n)) - 1))
LSTMF_INLINE vreal vload_n(const real *p, int n) { return (vreal)_mm512_maskz_loadu_pd(VMASK_(n), p); }
LSTMF_INLINE void vstore_n(real *p, vreal v, int n) { _mm512_mask_storeu_pd(p, VMASK_(n), (__m512d)v); }
#else
#define VMASK_(n) ((__mmask16)((1u << (n)) - 1))
LSTMF_INLINE vreal vload_n(const real *p, int n) { return (vreal)_mm512_maskz_loadu_ps(VMASK_(n), p); }
LSTMF_INLINE void vstore_n(real *p, vreal v, int n) { _mm512_mask_storeu_ps(p, VMASK_(n), (__m512)v); }
#endif
#elif defined(__AVX2__) && VBYTES == 32
#include <immintrin.h>
/* Lane l is loaded/stored when its mask element is negative: l < n. */
LSTMF_INLINE vint vmask_(int n) {
    vint lanes;
    for (int i = 0; i < VLEN; i++) lanes[i] = i;
    return lanes < n;
}
#ifdef LSTMF_DTYPE_F64
LSTMF_INLINE vreal vload_n(const real *p, int n) { return (vreal)_mm256_maskload_pd(p, (__m256i)vmask_(n)); }
LSTMF_INLINE void vstore_n(real *p, vreal v, int n) { _mm256_maskstore_pd(p, (__m256i)vmask_(n), (__m256d)v); }
#else
LSTMF_INLINE vreal vload_n(const real *p, int n) { return (vreal)_mm256_maskload_ps(p, (__m256i)vmask_(n)); }
LSTMF_INLINE void vstore_n(real *p, vreal v, int n) { _mm256_maskstore_ps(p, (__m256i)vmask_(n), (__m256)v); }
#endif
#else
LSTMF_INLINE vreal vload_n(const real *p, int n) {
    vreal v = vset1(0);
    memcpy(&v, p, (size_t)n * sizeof(real));
    return v;
}
LSTMF_INLINE void vstore_n(real *p, vreal v, int n) { memcpy(p, &v, (size_t)n * sizeof(real)); }
#endif

LSTMF_INLINE vreal vload_upto(const real *p, int n) { return n >= VLEN ? vload(p) : vload_n(p, n); }
LSTMF_INLINE void vstore_upto(real *p, vreal v, int n) {
    if (n >= VLEN) vstore(p, v); else vstore_n(p, v, n);
}

/* a*b + c (a scalar times a vector, plus a vector) rounded once, a fused
 * multiply-add, on the SIMD variants, always.
 * Contraction (-ffp-contract=fast) fuses only where the compiler sees the
 * multiply and the add together: clang within one basic block, which the
 * sanitizers' checks split, so a sanitized build rounded some products of
 * one copy of the micro-kernel apart and fused them in another, and the
 * copies that must give one sum the same bits (gemm_micro_row against
 * gemm_micro, whatever the pass width) did not. */
LSTMF_INLINE vreal vfma_s(real a, vreal b, vreal c) {
#if defined(__AVX512F__) && VBYTES == 64 && defined(LSTMF_DTYPE_F64)
    return (vreal)_mm512_fmadd_pd(_mm512_set1_pd(a), (__m512d)b, (__m512d)c);
#elif defined(__AVX512F__) && VBYTES == 64
    return (vreal)_mm512_fmadd_ps(_mm512_set1_ps(a), (__m512)b, (__m512)c);
#elif defined(__FMA__) && VBYTES == 32 && defined(LSTMF_DTYPE_F64)
    return (vreal)_mm256_fmadd_pd(_mm256_set1_pd(a), (__m256d)b, (__m256d)c);
#elif defined(__FMA__) && VBYTES == 32
    return (vreal)_mm256_fmadd_ps(_mm256_set1_ps(a), (__m256)b, (__m256)c);
#else
    return a * b + c;
#endif
}

/* A store that bypasses the caches (x86 non-temporal) when v is a whole,
 * aligned vector, else vstore_upto: for large arrays written once and read
 * back only much later, such as the gate activations of a training forward,
 * which backward reads in reverse. A cached store first reads the line it
 * writes from memory; this one does not. Stores made with it become visible
 * to other threads only after vstream_fence(). */
#if (defined(__AVX512F__) && VBYTES == 64) || (defined(__AVX2__) && VBYTES == 32)
#define VSTREAM_ 1
#else
#define VSTREAM_ 0
#endif
LSTMF_INLINE void vstream_upto(real *p, vreal v, int n) {
#if VSTREAM_
    if (n >= VLEN && ((uintptr_t)p & (VBYTES - 1)) == 0) {
#if VBYTES == 64 && defined(LSTMF_DTYPE_F64)
        _mm512_stream_pd(p, (__m512d)v);
#elif VBYTES == 64
        _mm512_stream_ps(p, (__m512)v);
#elif defined(LSTMF_DTYPE_F64)
        _mm256_stream_pd(p, (__m256d)v);
#else
        _mm256_stream_ps(p, (__m256)v);
#endif
        return;
    }
#endif
    vstore_upto(p, v, n);
}

LSTMF_INLINE void vstream_fence(void) {
#if VSTREAM_
    _mm_sfence();
#endif
}

/* In-register transpose of VLEN vectors: afterwards r[k] holds lane k of
 * every input vector, in order. log2(VLEN) perfect shuffles (vectors i and
 * i + VLEN/2 interleaved into 2i and 2i + 1) transpose a square; each is
 * one two-source permute on AVX-512 and AVX2. For packing weights, whose
 * transpose element by element would dominate a short call. */
#ifdef LSTMF_DTYPE_F64
#define VLANES_ (VBYTES / 8)
#else
#define VLANES_ (VBYTES / 4)
#endif
#if VLANES_ == 16
#define ZIP_LO_ 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23
#define ZIP_HI_ 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31
#elif VLANES_ == 8
#define ZIP_LO_ 0, 8, 1, 9, 2, 10, 3, 11
#define ZIP_HI_ 4, 12, 5, 13, 6, 14, 7, 15
#elif VLANES_ == 4
#define ZIP_LO_ 0, 4, 1, 5
#define ZIP_HI_ 2, 6, 3, 7
#else
#define ZIP_LO_ 0, 2
#define ZIP_HI_ 1, 3
#endif
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define VSHUFFLE_ 1
#endif
#endif
LSTMF_INLINE void vtranspose(vreal r[VLEN]) {
#ifdef VSHUFFLE_
#pragma GCC unroll 16
    for (int s = 1; s < VLEN; s *= 2) {
        vreal t[VLEN];
#pragma GCC unroll 16
        for (int i = 0; i < VLEN / 2; i++) {
            t[2 * i] = __builtin_shufflevector(r[i], r[i + VLEN / 2], ZIP_LO_);
            t[2 * i + 1] = __builtin_shufflevector(r[i], r[i + VLEN / 2], ZIP_HI_);
        }
        memcpy(r, t, sizeof t);
    }
#else
    vreal t[VLEN];
    for (int k = 0; k < VLEN; k++)
        for (int n = 0; n < VLEN; n++) t[k][n] = r[n][k];
    memcpy(r, t, sizeof t);
#endif
}

/* Lane select: mask ? a : b (C has no vector ?: operator). */
LSTMF_INLINE vreal vselect(vint mask, vreal a, vreal b) {
    return (vreal)((mask & (vint)a) | (~mask & (vint)b));
}
/* min/max: one instruction on x86 (compare + blend elsewhere). */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#if VBYTES == 64 && defined(LSTMF_DTYPE_F64)
#define VMIN_(a, b) (vreal)_mm512_min_pd((__m512d)(a), (__m512d)(b))
#define VMAX_(a, b) (vreal)_mm512_max_pd((__m512d)(a), (__m512d)(b))
#elif VBYTES == 64
#define VMIN_(a, b) (vreal)_mm512_min_ps((__m512)(a), (__m512)(b))
#define VMAX_(a, b) (vreal)_mm512_max_ps((__m512)(a), (__m512)(b))
#elif VBYTES == 32 && defined(LSTMF_DTYPE_F64)
#define VMIN_(a, b) (vreal)_mm256_min_pd((__m256d)(a), (__m256d)(b))
#define VMAX_(a, b) (vreal)_mm256_max_pd((__m256d)(a), (__m256d)(b))
#elif VBYTES == 32
#define VMIN_(a, b) (vreal)_mm256_min_ps((__m256)(a), (__m256)(b))
#define VMAX_(a, b) (vreal)_mm256_max_ps((__m256)(a), (__m256)(b))
#elif defined(LSTMF_DTYPE_F64)
#define VMIN_(a, b) (vreal)_mm_min_pd((__m128d)(a), (__m128d)(b))
#define VMAX_(a, b) (vreal)_mm_max_pd((__m128d)(a), (__m128d)(b))
#else
#define VMIN_(a, b) (vreal)_mm_min_ps((__m128)(a), (__m128)(b))
#define VMAX_(a, b) (vreal)_mm_max_ps((__m128)(a), (__m128)(b))
#endif
LSTMF_INLINE vreal vmin(vreal a, vreal b) { return VMIN_(a, b); }
LSTMF_INLINE vreal vmax(vreal a, vreal b) { return VMAX_(a, b); }
#else
LSTMF_INLINE vreal vmin(vreal a, vreal b) { return vselect(a < b, a, b); }
LSTMF_INLINE vreal vmax(vreal a, vreal b) { return vselect(a > b, a, b); }
#endif
/* Either way, vmin(a, b) and vmax(a, b) give b when a lane is NaN. */

#endif
