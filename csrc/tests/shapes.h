/* The shapes every cell is tested on: each one is there for an edge of the
 * kernels (named in its comment). */
#ifndef LSTMF_TEST_SHAPES_H
#define LSTMF_TEST_SHAPES_H

#include <stdint.h>

#include "runner.h"

typedef struct {
    int64_t B, T, D, H, y_ld_extra;
    int flags; /* runner.h's CASE_* */
    const char *why;
} test_shape;

static const test_shape forward_shapes[] = {
    {1, 1, 1, 1, 0, 0, "the smallest: batch 1, one step, one unit"},
    {1, 6, 2, 3, 0, 1 | 2, "batch 1, H under every vector width, initial states"},
    {1, 4, 3, 520, 0, 1 | 2, "batch 1, H past KC: several panels per single-row pass"},
    {3, 5, 4, 7, 0, 1 | 2 | 4, "variable lengths, odd H"},
    {7, 4, 3, 17, 3, 4, "H past a vector, y rows wider than H (bidirectional layout)"},
    {13, 3, 5, 33, 0, 1 | 4, "more rows than a micro-panel, ties in lengths"},
    {2, 2, 3, 520, 0, 1 | 2, "H past the GEMM's KC slice and past a unit block; threads"},
    {9, 14, 520, 20, 1, 4, "D past KC, packed rows past MC: the input GEMM's blocking"},
    {2, 3, 5, 300, 0, 1 | 2 | 4, "few rows, large H: threads split each step's columns"},
    {61, 4, 3, 24, 0, 1 | 2 | 4, "rows for several chunks per thread: threads claim them"},
};
#define N_FORWARD_SHAPES (int)(sizeof forward_shapes / sizeof forward_shapes[0])

/* A case of this shape for a cell (runner.h's case_make), its y rows
 * y_ld_extra wider than H where the shape asks for that. */
static inline tcase *shape_case(rng_t *r, int cell, const test_shape *sh, int reverse,
                                int flags) {
    return case_make(r, cell, sh->B, sh->T, sh->D, sh->H, reverse,
                     sh->y_ld_extra ? sh->H + sh->y_ld_extra : 0, flags);
}

#endif
