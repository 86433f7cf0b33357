/* GRU cell, exactly torch.nn.GRU: gates r, z, n (PyTorch order).
 *   r = sigmoid(x_r + W_hr h + b_hr)      z = sigmoid(x_z + W_hz h + b_hz)
 *   n = tanh(x_n + r * (W_hn h + b_hn))   h' = (1 - z) * n + z * h
 * where x_g = W_ig x + b_ig comes from the input projection.
 * A cached row (6H wide) holds r, z, n and W_hn h + b_hn after the forward;
 * backward replaces it with dZ of the input projection (dr, dz, dn) and of
 * the recurrent product (dr, dz, r * dn): r scales only the latter.
 */
#include "cell.h"
#include "../simd/activations.h"

static void gru_forward_tile(const FN(fwd_step) *st, int64_t i0, int mr,
                             real *tile, int64_t tile_ld, int64_t j0,
                             int64_t nu) {
    const int64_t H = st->H, U = st->U;
    const real *bh = st->b_hh;
    for (int r = 0; r < mr; r++) {
        const int64_t i = i0 + r;
        const real *acc = tile + r * tile_ld;
        real *z = st->z + i * 6 * H;
        const real *hp = st->h_prev + i * st->h_stride;
        real *y = step_y(st, i), *h_out = step_h_out(st, i);
        for (int64_t u = 0; u < nu; u += VLEN) {
            const int n = (int)(nu - u);
            const int64_t j = j0 + u;
            const real *a = acc + tile_col(u, 0, U, 3);
            vreal rg = vsigmoid(vload(a) + vload_upto(z + j, n) + vload_upto(bh + j, n));
            vreal zg = vsigmoid(vload(a + U) + vload_upto(z + H + j, n) +
                                vload_upto(bh + H + j, n));
            vreal hn = vload(a + 2 * U) + vload_upto(bh + 2 * H + j, n);
            vreal ng = vtanh(vload_upto(z + 2 * H + j, n) + rg * hn);
            vreal h = ng + zg * (vload_upto(hp + j, n) - ng);
            if (st->training) {
                vstore_upto(z + j, rg, n);
                vstore_upto(z + H + j, zg, n);
                vstore_upto(z + 2 * H + j, ng, n);
                vstore_upto(z + 3 * H + j, hn, n);
            }
            if (y) vstore_upto(y + j, h, n);
            vstore_upto(h_out + j, h, n);
            if (st->training) keep_h_for_backward(st, i, j, h, n);
        }
    }
}

static void gru_backward_rows(const FN(bwd_step) *st, int64_t i0, int64_t i1) {
    const int64_t H = st->H;
    for (int64_t i = i0; i < i1; i++) {
        real *z = st->z + i * 6 * H;
        const real *hp = st->h_prev + i * st->h_stride;
        const real *dy = st->dy ? st->dy + seq_row(&st->seq, i) : NULL;
        for (int64_t j = 0; j < H; j += VLEN) {
            const int n = (int)(H - j);
            vreal dh = total_dh(st, i, dy, j, n);
            vreal rg = vload_upto(z + j, n), zg = vload_upto(z + H + j, n);
            vreal ng = vload_upto(z + 2 * H + j, n), hn = vload_upto(z + 3 * H + j, n);
            vreal dn = dh * (1 - zg) * (1 - ng * ng);
            vreal dr = dn * hn * rg * (1 - rg);
            vreal dz = dh * (vload_upto(hp + j, n) - ng) * zg * (1 - zg);
            vstore_upto(z + j, dr, n);
            vstore_upto(z + H + j, dz, n);
            vstore_upto(z + 2 * H + j, dn, n);
            vstore_upto(z + 3 * H + j, dr, n);
            vstore_upto(z + 4 * H + j, dz, n);
            vstore_upto(z + 5 * H + j, dn * rg, n);
            /* The part of dh_{t-1} that goes straight through z * h. */
            vstore_upto(st->dh + i * H + j, dh * zg, n);
        }
    }
}

const FN(cell_ops) FN(gru_cell) = {
    .forward_tile = gru_forward_tile,
    .backward_rows = gru_backward_rows,
};
