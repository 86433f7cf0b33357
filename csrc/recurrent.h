/* The recurrent weights as the per-step GEMM reads them, shared by the
 * sequence loop (rnn.c) and the one-step streaming path (stream.c).
 *
 * W_hh^T is packed into K x NR panels (K = H), gate-interleaved: unit block
 * k holds units [k*U, k*U + U) of every gate, gate g of unit u in column
 * g*U + u, so one micro-kernel output tile holds all gates of U units and
 * goes straight into the cell's epilogue. W_ih^T packs the same way (K = D)
 * when the time loop adds the input projection to the same tile.
 */
#ifndef LSTMF_RECURRENT_H
#define LSTMF_RECURRENT_H

#include "gemm/gemm.h"

/* Units per block, so that a block of G gates fills whole micro-panels: a
 * power of two, as VLEN and GEMM_NV are. */
static inline int64_t recurrent_unit_block(int gates) {
    int a = gates, b = GEMM_NV;
    while (b) { int r = a % b; a = b; b = r; }
    return (int64_t)VLEN * GEMM_NV / a;
}

/* Unit blocks per output tile of the time loop: enough for each row of the
 * tile to hold NV vectors of every gate. One block is enough for the GRU
 * and the RNN; the LSTM's blocks are one vector wide, and one per tile left
 * its epilogue redoing a row's bookkeeping for every vector. */
static inline int64_t recurrent_blocks_per_tile(int gates) {
    return (int64_t)VLEN * GEMM_NV / recurrent_unit_block(gates);
}

static inline int64_t recurrent_blocks(int gates, int64_t H) {
    const int64_t U = recurrent_unit_block(gates);
    return (H + U - 1) / U;
}

int64_t FN(recurrent_packed_elems)(int gates, int64_t H, int64_t K);

/* Packs w (G*H, K), W_hh (K = H) or W_ih (K = D), as described above; -1 if
 * out of memory. */
int FN(pack_recurrent)(int gates, int64_t H, int64_t K, const real *w, real *packed);

#endif
