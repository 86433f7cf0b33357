/* Aligned scratch allocation for packed panels and workspaces. */
#ifndef LSTMF_MEMORY_H
#define LSTMF_MEMORY_H

#include <stdint.h>
#include <stdlib.h>

#define LSTMF_ALIGN 64

/* Checked size arithmetic: the product or sum, or -1 when an operand is
 * negative (an earlier failure) or the result would not fit an int64, so a
 * chain of them never wraps around into a small, valid-looking size. */
static inline int64_t lstmf_mul(int64_t a, int64_t b) {
    int64_t r;
    return a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r) ? -1 : r;
}
static inline int64_t lstmf_add(int64_t a, int64_t b) {
    int64_t r;
    return a < 0 || b < 0 || __builtin_add_overflow(a, b, &r) ? -1 : r;
}

/* Bytes lstmf_alloc has been asked for since the process started (a
 * relaxed counter: the C tests check lstmf_call_bytes against it). */
extern int64_t lstmf_alloc_bytes_total;

/* NULL for a negative size: an overflowed count must fail, never become a
 * small buffer. */
static inline void *lstmf_alloc(int64_t bytes) {
    if (bytes < 0) return NULL;
    if (bytes == 0) bytes = LSTMF_ALIGN;
    __atomic_fetch_add(&lstmf_alloc_bytes_total, bytes, __ATOMIC_RELAXED);
#ifdef _WIN32
    return _aligned_malloc((size_t)bytes, LSTMF_ALIGN);
#else
    void *p = NULL;
    return posix_memalign(&p, LSTMF_ALIGN, (size_t)bytes) == 0 ? p : NULL;
#endif
}

/* n elements of `size` bytes, n * size checked. */
static inline void *lstmf_alloc_n(int64_t n, int64_t size) { return lstmf_alloc(lstmf_mul(n, size)); }

static inline void lstmf_free(void *p) {
#ifdef _WIN32
    _aligned_free(p);
#else
    free(p);
#endif
}

#endif
