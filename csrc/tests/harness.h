/* The C test driver's small framework: checks that count failures, a
 * seeded random generator, and guarded buffers that catch writes past
 * either end of an output even without a sanitizer.
 */
#ifndef LSTMF_TEST_HARNESS_H
#define LSTMF_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>

extern int64_t test_checks, test_failures;

/* Records one check; prints where it failed (and carries on, so one run
 * shows every failure). */
#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        test_checks++;                                                    \
        if (!(cond)) {                                                    \
            test_failures++;                                              \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                 \
            fprintf(stderr, "\n");                                        \
        }                                                                 \
    } while (0)

/* xorshift64*: the same numbers on every platform, no libc rand(). */
typedef struct { uint64_t s; } rng_t;
rng_t rng_seed(uint64_t seed);
double rng_uniform(rng_t *r, double lo, double hi);
int64_t rng_int(rng_t *r, int64_t lo, int64_t hi); /* inclusive */

/* Guarded buffer: n elements of elem bytes with GUARD_BYTES of a known
 * pattern on both sides; the pointer returned points at element 0. */
#define GUARD_BYTES 64
void *gbuf_alloc(int64_t n, int64_t elem);
/* 1 if both guards still hold their pattern. */
int gbuf_intact(const void *p);
void gbuf_free(void *p);

/* Largest |a[i] - b[i]| and largest |b[i]|. */
double max_abs_diff(const double *a, const double *b, int64_t n);
double max_abs(const double *a, int64_t n);
/* max|a - b| <= tol * (1 + max|b|): a relative check that does not blow
 * up near zero. Reports the worst element when it fails. */
int close_enough(const double *a, const double *b, int64_t n, double tol,
                 const char *what);

#endif
