/* LSTM cell: gates i, f, g, o (PyTorch order).
 *   c_t = sigmoid(z_f) * c_{t-1} + sigmoid(z_i) * tanh(z_g)
 *   h_t = sigmoid(z_o) * tanh(c_t)
 */
#include "cell.h"
#include "../simd/activations.h"

/* The forward epilogue, with `training` and `fused` (the tile already holds
 * W_ih x_t: no z_in) and the unit block width as compile-time constants in
 * each copy: with them known, the row loop keeps its constants in
 * registers and carries no dead branches. */
LSTMF_INLINE void forward_body(const FN(fwd_step) *st, int64_t i0, int mr, real *tile,
                               int64_t tile_ld, int64_t j0, int64_t nu, const int64_t U,
                               const int training, const int fused) {
    const int64_t H = st->H;
    const real *bh = st->b_hh;
    /* Pass 1, the four gate activations of every row, in place in the
     * tile: independent iterations, so the core overlaps several rows'
     * exp/reciprocal chains, where one pass per row left it waiting on
     * sigmoid -> c -> tanh(c) -> h in turn. */
    for (int r = 0; r < mr; r++) {
        real *acc = tile + r * tile_ld;
        const real *zin = fused ? NULL : st->z_in + (i0 + r) * 4 * H;
        for (int64_t u = 0; u < nu; u += VLEN) {
            const int n = (int)(nu - u);
            const int64_t j = j0 + u;
            real *a = acc + tile_col(u, 0, U, 4);
            vreal zi = vload(a + 0 * U), zf = vload(a + 1 * U);
            vreal zg = vload(a + 2 * U), zo = vload(a + 3 * U);
            if (!fused) {
                zi += vload_upto(zin + 0 * H + j, n);
                zf += vload_upto(zin + 1 * H + j, n);
                zg += vload_upto(zin + 2 * H + j, n);
                zo += vload_upto(zin + 3 * H + j, n);
            }
            zi += vload_upto(bh + 0 * H + j, n);
            zf += vload_upto(bh + 1 * H + j, n);
            zg += vload_upto(bh + 2 * H + j, n);
            zo += vload_upto(bh + 3 * H + j, n);
            vlstm_gates(&zi, &zf, &zg, &zo);
            vstore(a + 0 * U, zi);
            vstore(a + 1 * U, zf);
            vstore(a + 2 * U, zg);
            vstore(a + 3 * U, zo);
        }
    }
    /* Pass 2, the states. */
    for (int r = 0; r < mr; r++) {
        const int64_t i = i0 + r;
        const real *acc = tile + r * tile_ld;
        /* z is NULL in fused inference: no pointer arithmetic on it then. */
        real *z = training ? st->z + i * 4 * H : NULL;
        const real *cp = st->c_prev + i * H;
        real *co = st->c_out + i * H;
        real *y = st->y ? st->y + seq_row(&st->seq, i) : NULL; /* NULL: not wanted */
        const int last = i >= st->n_next;
        real *h_next = last ? st->h_n + st->perm[i] * H : st->h_out + i * st->h_stride;
        for (int64_t u = 0; u < nu; u += VLEN) {
            const int n = (int)(nu - u);
            const int64_t j = j0 + u;
            const real *a = acc + tile_col(u, 0, U, 4);
            vreal ig = vload(a + 0 * U), fg = vload(a + 1 * U);
            vreal gg = vload(a + 2 * U), og = vload(a + 3 * U);
            vreal c = fg * vload_upto(cp + j, n) + ig * gg;
            vreal h = og * vtanh(c);
            if (training) {
                /* The cache rows are not read again before backward: write
                 * them around the caches, which cached stores would fill
                 * (and first read) for nothing. */
                vstream_upto(z + 0 * H + j, ig, n);
                vstream_upto(z + 1 * H + j, fg, n);
                vstream_upto(z + 2 * H + j, gg, n);
                vstream_upto(z + 3 * H + j, og, n);
                vstream_upto(st->c_cache + i * H + j, c, n);
                keep_h_for_backward(st, i, j, h, n);
            }
            vstore_upto(co + j, c, n);
            if (y) vstore_upto(y + j, h, n);
            vstore_upto(h_next + j, h, n);
            if (last) vstore_upto(st->c_n + st->perm[i] * H + j, c, n);
        }
    }
}

static void lstm_forward_tile(const FN(fwd_step) *st, int64_t i0, int mr, real *tile,
                              int64_t tile_ld, int64_t j0, int64_t nu) {
    /* The unit block is one vector wide on every ISA (recurrent.h: 4 gates
     * fill the micro-panel's NV vectors): the copies for that width index
     * the tile with constant strides. */
    const int fused = st->z_in == NULL;
    if (st->U != VLEN) forward_body(st, i0, mr, tile, tile_ld, j0, nu, st->U, st->training, fused);
    else if (st->training && fused) forward_body(st, i0, mr, tile, tile_ld, j0, nu, VLEN, 1, 1);
    else if (st->training) forward_body(st, i0, mr, tile, tile_ld, j0, nu, VLEN, 1, 0);
    else if (fused) forward_body(st, i0, mr, tile, tile_ld, j0, nu, VLEN, 0, 1);
    else forward_body(st, i0, mr, tile, tile_ld, j0, nu, VLEN, 0, 0);
}

static void lstm_backward_rows(const FN(bwd_step) *st, int64_t i0, int64_t i1) {
    const int64_t H = st->H;
    for (int64_t i = i0; i < i1; i++) {
        real *z = st->z + i * 4 * H;
        const real *dy = st->dy ? st->dy + seq_row(&st->seq, i) : NULL;
        for (int64_t j = 0; j < H; j += VLEN) {
            const int n = (int)(H - j);
            vreal dh = vload_upto(st->dh + i * H + j, n);
            if (dy) dh += vload_upto(dy + j, n);
            vreal ig = vload_upto(z + 0 * H + j, n), fg = vload_upto(z + 1 * H + j, n);
            vreal gg = vload_upto(z + 2 * H + j, n), og = vload_upto(z + 3 * H + j, n);
            vreal tc = vtanh(vload_upto(st->c_cur + i * H + j, n));
            vreal dc = vload_upto(st->dc + i * H + j, n);
            /* The state gradients: of the (h_t, c_t) that step t passes on,
             * each with the other held fixed. */
            if (st->h_seq) vstore_upto(st->h_seq + seq_row(&st->state_seq, i) + j, dh, n);
            if (st->c_seq) vstore_upto(st->c_seq + seq_row(&st->state_seq, i) + j, dc, n);
            dc += dh * og * (1 - tc * tc);
            vreal c_prev = vload_upto(st->c_prev + i * H + j, n);
            vstore_upto(z + 0 * H + j, dc * gg * ig * (1 - ig), n);
            vstore_upto(z + 1 * H + j, dc * c_prev * fg * (1 - fg), n);
            vstore_upto(z + 2 * H + j, dc * ig * (1 - gg * gg), n);
            vstore_upto(z + 3 * H + j, dh * tc * og * (1 - og), n);
            vstore_upto(st->dc + i * H + j, dc * fg, n);
        }
    }
}

const FN(cell_ops) FN(lstm_cell) = {
    .forward_tile = lstm_forward_tile,
    .backward_rows = lstm_backward_rows,
};
