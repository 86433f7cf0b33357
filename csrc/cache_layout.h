/* Where each array lives inside the caller-owned training cache.
 *
 * All rows are "packed": time-major, samples sorted by decreasing length,
 * step t holding only its live rows, rows off[t] .. off[t+1]-1 (N rows in
 * all). Row i of step t is the i-th longest sample, perm[i].
 *   xh    (N, D+H)  [x_t, h_{t-1}] of each live row side by side: x feeds
 *                   the input projection, h_{t-1} the recurrent GEMM, and
 *                   backward gets [dW_ih, dW_hh] from one GEMM with it
 *   z     (N, Z*H)  the cell's cache of each row (Z = its z_width, e.g.
 *                   the gate activations), overwritten by dZ in backward
 *   c     (N, H)    cell state c_t (cells with a cell state only)
 *   c0    (B, H)    initial cell state in sorted order (likewise)
 * The int64 index holds perm (B), batch_sizes (T: live rows per step),
 * off (T + 1) and row_len (B: the length of the i-th longest sample).
 */
#ifndef LSTMF_CACHE_LAYOUT_H
#define LSTMF_CACHE_LAYOUT_H

#include <stdint.h>

#include "memory.h"

typedef struct {
    int64_t xh, z, c, c0, total;
} lstmf_cache_offsets;

static inline lstmf_cache_offsets lstmf_cache_layout(int64_t z_width,
                                                     int has_cell_state,
                                                     int64_t N, int64_t B,
                                                     int64_t D, int64_t H) {
    lstmf_cache_offsets o;
    /* Checked (memory.h): an offset that would not fit an int64 is -1,
     * and so is every one after it. */
    o.xh = 0;
    o.z = lstmf_add(o.xh, lstmf_mul(N, lstmf_add(D, H)));
    o.c = lstmf_add(o.z, lstmf_mul(lstmf_mul(N, z_width), H));
    o.c0 = lstmf_add(o.c, has_cell_state ? lstmf_mul(N, H) : 0);
    o.total = lstmf_add(o.c0, has_cell_state ? lstmf_mul(B, H) : 0);
    return o;
}

static inline int64_t lstmf_index_elems(int64_t B, int64_t T) {
    return lstmf_add(lstmf_add(lstmf_mul(2, B), lstmf_mul(2, T)), 1);
}

#endif
