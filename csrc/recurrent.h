/* The recurrent weights as the per-step GEMM reads them, shared by the
 * sequence loop (time_loop.c) and the one-step streaming path (stream.c).
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

_Static_assert((GEMM_NV & (GEMM_NV - 1)) == 0, "recurrent_unit_block: NV a power of two");

/* Units per block, so that a block of G gates fills whole micro-panels:
 * VLEN*NV / gcd(G, NV), a power of two, as VLEN and NV are. With NV a
 * power of two, gcd(G, NV) is G's lowest set bit, at most NV: VLEN*NV
 * halved once per trailing zero bit of G below NV, with no division: the
 * streaming step works this out for every layer at every call, and a
 * division is a sizeable part of a step that short. (No ctz builtin
 * either: gcc emits it as tzcnt, beyond the x86-64 baseline.) */
static inline int64_t recurrent_unit_block(int gates) {
    int64_t units = (int64_t)VLEN * GEMM_NV;
    for (int bit = 1; bit < GEMM_NV && gates && !(gates & bit); bit <<= 1) units >>= 1;
    return units;
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

/* Packs w (G*H, K), W_hh (K = H) or W_ih (K = D), as described above,
 * with col_map (recurrent_col_map_elems) as scratch, or, NULL, its own; -1
 * if that could not be allocated. */
int FN(pack_recurrent)(int gates, int64_t H, int64_t K, const real *w, real *packed,
                       int64_t *col_map);
int64_t FN(recurrent_col_map_elems)(int gates, int64_t H);
/* The packed columns' rows of w: col_map[n] is the row (g*H + unit) of
 * packed column n, or -1 for a padding column past H. */
void FN(recurrent_col_map)(int gates, int64_t H, int64_t *col_map);

#endif
