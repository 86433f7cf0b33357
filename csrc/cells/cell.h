/* The interface between the time loop (time_loop.c) and a recurrent cell.
 *
 * A cell is a gate count plus two fused epilogues, as oneDNN's post-GEMMs:
 * - forward_tile: takes the recurrent GEMM's accumulators for a few rows and
 *   one block of hidden units (W_hh h_{t-1}, gate-interleaved, straight from
 *   the micro-kernel's output tile, which may also hold W_ih x_t), adds the
 *   input projection (unless the tile holds it) and the bias,
 *   applies the activations and writes the new states;
 * - backward_rows: turns dh_t (and the cell's own carried gradients) into
 *   dZ_t, the gradient of the gate pre-activations, in place of the cached
 *   activations.
 * Adding a cell adds a file in cells/, its row in registry.c and its case
 * in cell_ops_for below, and nothing in the loop or the GEMM.
 */
#ifndef LSTMF_CELL_H
#define LSTMF_CELL_H

#include "../lstmf.h"
#include "../simd/vec.h"

/* Where row i of step t lives in a batch-first (B, T, ld) array: its sample
 * is perm[i], its time index t, or len - 1 - t when running in reverse. */
typedef struct {
    const int64_t *perm, *row_len;
    int64_t T, ld, t;
    int reverse;
} lstmf_seq;

LSTMF_INLINE int64_t seq_row(const lstmf_seq *q, int64_t i) {
    const int64_t tt = q->reverse ? q->row_len[i] - 1 - q->t : q->t;
    return (q->perm[i] * q->T + tt) * q->ld;
}

/* One forward step. Row i means the i-th live row of the step (sorted). */
typedef struct {
    int64_t H;            /* hidden size */
    int64_t U;            /* hidden units per block in the output tile */
    int training;         /* keep what backward needs in z */
    const real *b_hh;     /* (G*H): b_hh, or b_ih + b_hh when z_in is NULL */
    const real *z_in;     /* row i at z_in + i*z_width*H: W_ih x_t + b_ih; NULL
                           * when the tile holds W_ih x_t already (the plan
                           * decides; only cells that read z_in may be fused) */
    real *z;              /* row i at z + i*z_width*H: the cell's cache (and
                           * the same as z_in when that is not NULL) */
    const real *h_prev;   /* row i at h_prev + i*h_stride: h_{t-1} */
    const real *c_prev;   /* row i at c_prev + i*H (cells with a cell state) */
    real *c_out;          /* row i at c_out + i*H; may equal c_prev */
    real *h_out;          /* row i at h_out + i*h_stride: h_t for the next step ... */
    int64_t h_stride;
    int64_t n_next;       /* ... for the rows i < n_next still live then */
    real *y;              /* row i's output at y + seq_row(&seq, i); NULL:
                           * not wanted */
    const int64_t *perm;  /* sample of row i */
    real *h_n, *c_n;      /* final states of samples whose last step this is */
    lstmf_seq seq;        /* row i's output at y + seq_row(&seq, i) */
    /* Training only (NULL otherwise): where backward finds the states, also
     * written, with vstream_upto as nothing reads them before backward:
     * h_t of rows i < n_next at h_cache + i*h_cache_ld (NULL at the last
     * step), c_t at c_cache + i*H (cells with a cell state). */
    real *h_cache, *c_cache;
    int64_t h_cache_ld;
} FN(fwd_step);

/* Training: h_t of row i (units j..) where backward reads it, for the rows
 * that go on to the next step. */
LSTMF_INLINE void keep_h_for_backward(const FN(fwd_step) *st, int64_t i, int64_t j, vreal h,
                                      int n) {
    if (i < st->n_next) vstream_upto(st->h_cache + i * st->h_cache_ld + j, h, n);
}

/* Row i's output at this step, or NULL when y is not wanted. */
LSTMF_INLINE real *step_y(const FN(fwd_step) *st, int64_t i) {
    return st->y ? st->y + seq_row(&st->seq, i) : NULL;
}

/* Where row i's h_t goes: the next step's h buffer while the row goes on,
 * else its sample's final state. */
LSTMF_INLINE real *step_h_out(const FN(fwd_step) *st, int64_t i) {
    return i < st->n_next ? st->h_out + i * st->h_stride : st->h_n + st->perm[i] * st->H;
}

/* One backward step, over whole rows. */
typedef struct {
    int64_t H;
    real *z;              /* in: the forward's cache; out: dZ (row i at
                           * z + i*z_width*H): dZ of the input projection
                           * in columns [0, G*H), and, for cells with
                           * separate_recurrent_dz, dZ of the recurrent
                           * product in columns [G*H, 2*G*H) */
    const real *h_prev;   /* h_{t-1}, row i at h_prev + i*h_stride */
    int64_t h_stride;
    const real *c_cur;    /* c_t, row i at c_cur + i*H */
    const real *c_prev;   /* c_{t-1} */
    real *dh;             /* in: dh_t carried from step t+1 (or dh_n); out,
                           * for cells with direct_dh: the part of dh_{t-1}
                           * that bypasses W_hh (the GEMM adds the rest) */
    real *dc;             /* in: dc_t carried; out: dc_{t-1} */
    const real *dy;       /* row i's dLoss/dy at dy + seq_row(&seq, i); NULL = 0 */
    const int64_t *perm;
    lstmf_seq seq;
    real *h_seq, *c_seq;  /* optional: dLoss/dh_t, dLoss/dc_t of row i at
                           * + seq_row(&state_seq, i); NULL = not wanted */
    lstmf_seq state_seq;
} FN(bwd_step);

/* dLoss/dh_t of row i, units j .. j + n - 1: the gradient carried from step
 * t+1 plus dy's (dy: row i's, NULL for none), kept in h_seq if wanted. */
LSTMF_INLINE vreal total_dh(const FN(bwd_step) *st, int64_t i, const real *dy, int64_t j,
                            int n) {
    vreal dh = vload_upto(st->dh + i * st->H + j, n);
    if (dy) dh += vload_upto(dy + j, n);
    if (st->h_seq) vstore_upto(st->h_seq + seq_row(&st->state_seq, i) + j, dh, n);
    return dh;
}

/* Column of gate g of unit j0 + u in a forward tile of blocks of U units
 * by G gates, each block's gates side by side: u / U * G * U + g * U +
 * u % U, with masks for the division, as U is a power of two
 * (recurrent_unit_block). */
LSTMF_INLINE int64_t tile_col(int64_t u, int g, int64_t U, int G) {
    return (u & ~(U - 1)) * G + g * U + (u & (U - 1));
}

/* The two epilogues; the cell's shape (gates, cache width, ...) is its
 * registry row (registry.c). */
typedef struct {
    /* tile: mr rows, row r at tile + r*tile_ld, holding nu units j0 + u
     * (0 <= u < nu) of one or more consecutive unit blocks: gate g of unit
     * j0 + u at column tile_col(u, g, U, G). The tile is scratch: the
     * epilogue may overwrite it. */
    void (*forward_tile)(const FN(fwd_step) *st, int64_t i0, int mr,
                         real *tile, int64_t tile_ld, int64_t j0,
                         int64_t nu);
    void (*backward_rows)(const FN(bwd_step) *st, int64_t i0, int64_t i1);
} FN(cell_ops);

extern const FN(cell_ops) FN(lstm_cell);
extern const FN(cell_ops) FN(rnn_tanh_cell);
extern const FN(cell_ops) FN(rnn_relu_cell);
extern const FN(cell_ops) FN(gru_cell);

static inline const FN(cell_ops) *FN(cell_ops_for)(int cell) {
    switch (cell) {
        case LSTMF_CELL_LSTM: return &FN(lstm_cell);
        case LSTMF_CELL_RNN_TANH: return &FN(rnn_tanh_cell);
        case LSTMF_CELL_RNN_RELU: return &FN(rnn_relu_cell);
        case LSTMF_CELL_GRU: return &FN(gru_cell);
        default: return NULL;
    }
}

#endif
