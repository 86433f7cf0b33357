#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t test_checks, test_failures;

rng_t rng_seed(uint64_t seed) { return (rng_t){seed * 0x9E3779B97F4A7C15ull + 1}; }

static uint64_t rng_next(rng_t *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

double rng_uniform(rng_t *r, double lo, double hi) {
    return lo + (hi - lo) * (double)(rng_next(r) >> 11) / 9007199254740992.0;
}

int64_t rng_int(rng_t *r, int64_t lo, int64_t hi) {
    return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* Layout: [size (8 bytes) | pad | guard | data | guard]; data stays
 * 64-byte aligned like the library's own buffers. */
#define HEADER 64
static const unsigned char PATTERN = 0xA5;

void *gbuf_alloc(int64_t n, int64_t elem) {
    const int64_t bytes = n * elem;
    unsigned char *base = NULL;
    if (posix_memalign((void **)&base, 64, (size_t)(HEADER + 2 * GUARD_BYTES + bytes)) != 0)
        abort();
    memcpy(base, &bytes, sizeof bytes);
    memset(base + HEADER, PATTERN, GUARD_BYTES);
    /* The data itself starts as a non-zero pattern too, so a test sees
     * whether the library wrote what it should. */
    memset(base + HEADER + GUARD_BYTES, 0x5A, (size_t)bytes);
    memset(base + HEADER + GUARD_BYTES + bytes, PATTERN, GUARD_BYTES);
    return base + HEADER + GUARD_BYTES;
}

int gbuf_intact(const void *p) {
    const unsigned char *base = (const unsigned char *)p - GUARD_BYTES - HEADER;
    int64_t bytes;
    memcpy(&bytes, base, sizeof bytes);
    for (int i = 0; i < GUARD_BYTES; i++)
        if (base[HEADER + i] != PATTERN || base[HEADER + GUARD_BYTES + bytes + i] != PATTERN)
            return 0;
    return 1;
}

void gbuf_free(void *p) {
    if (p) free((unsigned char *)p - GUARD_BYTES - HEADER);
}

double max_abs_diff(const double *a, const double *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN wins */
    }
    return m;
}

double max_abs(const double *a, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

int close_enough(const double *a, const double *b, int64_t n, double tol, const char *what) {
    const double scale = 1 + max_abs(b, n), diff = max_abs_diff(a, b, n);
    if (diff <= tol * scale) return 1;
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(a[i] - b[i]) <= tol * scale)) {
            fprintf(stderr, "  %s: element %lld is %.10g, expected %.10g (max diff %.3g, tol %.3g)\n",
                    what, (long long)i, a[i], b[i], diff, tol * scale);
            break;
        }
    return 0;
}
