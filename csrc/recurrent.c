/* Packing of the recurrent weights (recurrent.h). */
#include "recurrent.h"
#include "memory.h"

int64_t FN(recurrent_packed_elems)(int gates, int64_t H, int64_t K) {
    const int64_t W = gates * recurrent_unit_block(gates);
    return FN(gemm_packed_b_elems)(K, lstmf_mul(recurrent_blocks(gates, H), W));
}

int64_t FN(recurrent_col_map_elems)(int gates, int64_t H) {
    return lstmf_mul(recurrent_blocks(gates, H), gates * recurrent_unit_block(gates));
}

void FN(recurrent_col_map)(int gates, int64_t H, int64_t *col_map) {
    const int64_t U = recurrent_unit_block(gates);
    const int64_t nblocks = recurrent_blocks(gates, H);
    /* Column g*U + u of block blk: unit blk*U + u of gate g. */
    int64_t *col = col_map;
    for (int64_t blk = 0; blk < nblocks; blk++)
        for (int g = 0; g < gates; g++)
            for (int64_t j = blk * U; j < (blk + 1) * U; j++) *col++ = j < H ? g * H + j : -1;
}

int FN(pack_recurrent)(int gates, int64_t H, int64_t K, const real *w, real *packed,
                       int64_t *col_map) {
    const int64_t U = recurrent_unit_block(gates), nblocks = recurrent_blocks(gates, H);
    int64_t *own = col_map ? NULL : lstmf_alloc_n(FN(recurrent_col_map_elems)(gates, H),
                                                  sizeof(int64_t));
    if (!col_map && !own) return -1;
    if (!col_map) col_map = own;
    FN(recurrent_col_map)(gates, H, col_map);
    /* B = w^T: element (k, n) = w[n*K + k]. */
    FN(gemm_pack_b)(K, nblocks * gates * U, w, 1, K, col_map, packed);
    lstmf_free(own);
    return 0;
}
