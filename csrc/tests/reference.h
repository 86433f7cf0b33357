/* A naive double-precision forward pass of every cell, written from the
 * equations of torch.nn.LSTM / GRU / RNN (docs/architecture.md) with no code
 * shared with the library: the oracle the kernels are checked against.
 */
#ifndef LSTMF_TEST_REFERENCE_H
#define LSTMF_TEST_REFERENCE_H

#include <stdint.h>

typedef struct {
    int cell;  /* LSTMF_CELL_* */
    int64_t B, T, D, H;
    int reverse;
} ref_shape;

/* Optional nudge for finite differences of the state gradients: after
 * sample b computes its state at time index t, add eps to h[j] (state 0)
 * or c[j] (state 1), before it is output and passed on. */
typedef struct {
    int64_t b, t, j;
    int state;
    double eps;
} ref_nudge;

int ref_gates(int cell);

/* Variational dropout's masks, per sample and the same at every step:
 * x_t * x_mask[b] (B, D) is the input of W_ih, h_{t-1} * h_mask[b] (B, H)
 * that of W_hh (and nothing else reads them masked); NULL for none. */
typedef struct {
    const double *x, *h;
} ref_masks;

/* y (B, T, H) with zeros at padded steps, h_n, c_n (B, H); h0, c0, lengths
 * and masks may be NULL; c_n is ignored by cells without a cell state. */
void ref_forward(const ref_shape *s, const double *w_ih, const double *w_hh,
                 const double *b_ih, const double *b_hh, const double *x,
                 const double *h0, const double *c0, const int64_t *lengths,
                 const ref_masks *masks, double *y, double *h_n, double *c_n,
                 const ref_nudge *nudge);

#endif
