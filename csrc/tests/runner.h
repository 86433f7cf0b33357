/* Runs the library on a test case held in doubles: converts inputs to the
 * dtype under test, gives the library guarded buffers (with NaN where it
 * must not read and a byte pattern where it must not write), checks the
 * guards and the untouched regions, and converts the results back.
 */
#ifndef LSTMF_TEST_RUNNER_H
#define LSTMF_TEST_RUNNER_H

#include <stdint.h>

#include "harness.h"
#include "reference.h"

typedef struct {
    ref_shape s;
    int64_t y_ld;        /* row stride of y and dy (0: H) */
    double *w_ih, *w_hh, *b_ih, *b_hh;
    double *x;           /* (B, T, D); NaN at padded steps, which nothing may read */
    double *h0, *c0;     /* NULL: zero initial states */
    int64_t *lengths;    /* NULL: every sample has T steps */
    double *dy;          /* (B, T, H) upstream gradient, NaN at padded steps; NULL: none */
    double *dh_n, *dc_n; /* NULL: none */
    /* Dropout masks (B, D), (B, H): 0 or 1.25 (a rate of 0.2, inverted,
     * exact in both dtypes); NULL: none. Training runs only. */
    double *x_mask, *h_mask;
} tcase;

enum { CASE_H0 = 1, CASE_C0 = 2, CASE_LENGTHS = 4, CASE_DY = 8, CASE_DH_N = 16, CASE_DC_N = 32,
       CASE_ALL = 63, CASE_X_MASK = 64, CASE_H_MASK = 128 };

tcase *case_make(rng_t *r, int cell, int64_t B, int64_t T, int64_t D, int64_t H, int reverse,
                 int64_t y_ld, int flags);
void case_free(tcase *c);
int64_t case_params(const tcase *c); /* elements of w_ih + w_hh + b_ih + b_hh */

typedef struct {
    double *y, *h_n, *c_n; /* (B, T, H), (B, H), (B, H) */
} fwd_out;

typedef struct {
    double *w_ih, *w_hh, *b_ih, *b_hh, *x, *h0, *c0, *h_seq, *c_seq;
} grad_out;

/* Allocates (zeroed) result arrays of a case's sizes. */
void fwd_out_alloc(const tcase *c, fwd_out *o);
void fwd_out_free(fwd_out *o);
void grad_out_alloc(const tcase *c, grad_out *g);
void grad_out_free(grad_out *g);

/* The reference forward and its loss: sum(dy * y) + sum(dh_n * h_n) +
 * sum(dc_n * c_n) over live steps, the loss whose gradient backward gives. */
void case_reference(const tcase *c, fwd_out *o, const ref_nudge *nudge);
double case_loss(const tcase *c, const ref_nudge *nudge);

/* The library: inference forward (g == NULL) or training forward then
 * backward into g (with no y asked for when o->y is NULL, no dx when g->x
 * is), on the ISA
 * already chosen with lstmf_isa_init. Every
 * library call is checked to return LSTMF_OK; guard and untouched-region
 * violations are reported with `label`. */
void lib_run(const tcase *c, int dtype, fwd_out *o, grad_out *g, const char *label);

/* Every gradient of got against want within tol (close_enough); the
 * cell-state ones (dc0, c_seq) only for the LSTM, the one cell with c. */
void check_grads(const tcase *c, const grad_out *got, const grad_out *want, double tol,
                 const char *label);

/* n doubles of a and b bit for bit; and every gradient of a and b bit for
 * bit (dx only when both have it; the cell-state ones only for the LSTM). */
int same_bits(const double *a, const double *b, int64_t n);
int same_grads(const tcase *c, const grad_out *a, const grad_out *b);

/* Makes `isa` the active variant; 0 (and a note on stderr, once) when this
 * build or CPU lacks it, e.g. AVX-512 under valgrind, which hides it. */
int use_isa(int isa);

#endif
