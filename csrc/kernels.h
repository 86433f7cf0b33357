/* What each compiled (ISA, dtype) variant exports to dispatch.c. */
#ifndef LSTMF_KERNELS_H
#define LSTMF_KERNELS_H

#include "rnn.h"
#include "cells/registry.h"

typedef struct {
    int (*forward)(const lstmf_shape *s, const lstmf_weights *w, const void *x,
                   const void *h0, const void *c0, const int64_t *lengths,
                   void *y, void *h_n, void *c_n, void *cache,
                   int64_t *cache_index, int nthreads);
    int (*backward)(const lstmf_shape *s, const lstmf_weights *w,
                    void *cache, const int64_t *cache_index,
                    const void *dy, const void *dh_n, const void *dc_n,
                    const lstmf_grads *g, int nthreads);
    int (*stream_pack)(const lstmf_shape *s, const lstmf_weights *w, void *packed_ih,
                       void *packed_hh);
    int64_t (*stream_packed_elems)(const lstmf_shape *s, int which);
    int (*stream_step)(int n_layers, const lstmf_stream_layer *layers, int cur,
                       const void *x, const void *coef, const void *intercept,
                       int64_t n_out, void *out, void *workspace);
    int64_t (*stream_workspace_bytes)(int n_layers, const lstmf_stream_layer *layers);
    /* Scratch bytes of a call on packed_rows rows (lstmf_call_bytes). */
    int64_t (*call_workspace_bytes)(const lstmf_shape *s, int64_t packed_rows, int mode,
                                    int want_y_or_dx, int nthreads);
} lstmf_variant;

/* What the time loop needs to know of a cell, besides its two epilogues
 * (cells/cell.h): its registry row (cells/registry.c), the same for every
 * variant. gates == 0: unknown cell. */
typedef struct {
    int gates;                 /* weight rows per hidden unit */
    int has_cell_state;        /* a second state c beside h (LSTM) */
    int z_width;               /* H-wide columns per cached row (>= gates) */
    int separate_recurrent_dz; /* dZ of W_hh h differs from dZ of W_ih x */
    int direct_dh;             /* dh_{t-1} has a term besides dZ W_hh */
} lstmf_cell_info;

static inline lstmf_cell_info lstmf_cell(int cell) {
    const lstmf_cell_row *row = lstmf_cell_row_of(cell);
    if (!row) return (lstmf_cell_info){0, 0, 0, 0, 0};
    return (lstmf_cell_info){row->desc.gates, row->desc.has_cell_state, row->desc.z_width,
                             row->separate_recurrent_dz, row->direct_dh};
}

#endif
