/* What each compiled (ISA, dtype) variant exports to dispatch.c. */
#ifndef LSTMF_KERNELS_H
#define LSTMF_KERNELS_H

#include "rnn.h"

typedef struct {
    int (*forward)(const lstmf_shape *s, const lstmf_weights *w, const void *x,
                   const void *h0, const void *c0, const int64_t *lengths,
                   void *y, void *h_n, void *c_n, void *cache,
                   int64_t *cache_index, int nthreads);
    int (*backward)(const lstmf_shape *s, const lstmf_weights *w,
                    void *cache, const int64_t *cache_index,
                    const void *dy, const void *dh_n, const void *dc_n,
                    const lstmf_grads *g, int nthreads);
} lstmf_variant;

/* Has-cell-state flag per cell kind, shared by all variants. */
static inline int lstmf_cell_has_state(int cell) { return cell == LSTMF_CELL_LSTM; }

#endif
