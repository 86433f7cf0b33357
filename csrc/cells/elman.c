/* Plain (Elman) RNN cell, one gate: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
 * with act = tanh or relu, as torch.nn.RNN's `nonlinearity`. The cache keeps
 * h_t itself, from which backward gets act'(z): 1 - h^2 or [h > 0].
 */
#include "cell.h"
#include "../simd/activations.h"

LSTMF_INLINE void elman_forward_tile(const FN(fwd_step) *st, int64_t i0, int mr,
                                   real *tile, int64_t tile_ld, int64_t j0,
                                   int64_t nu, const int relu) {
    const int64_t H = st->H;
    for (int r = 0; r < mr; r++) {
        const int64_t i = i0 + r;
        const real *acc = tile + r * tile_ld;
        real *z = st->z + i * H;
        real *y = step_y(st, i), *h_out = step_h_out(st, i);
        for (int64_t u = 0; u < nu; u += VLEN) {
            const int n = (int)(nu - u);
            const int64_t j = j0 + u;
            /* One gate: unit u is at column u (tile_col), however many
             * blocks the tile holds. */
            vreal pre = vload(acc + u) + vload_upto(z + j, n) + vload_upto(st->b_hh + j, n);
            vreal h = relu ? vmax(vset1(0), pre) : vtanh(pre);
            if (st->training) vstore_upto(z + j, h, n);
            if (y) vstore_upto(y + j, h, n);
            vstore_upto(h_out + j, h, n);
            if (st->training) keep_h_for_backward(st, i, j, h, n);
        }
    }
}

LSTMF_INLINE void elman_backward_rows(const FN(bwd_step) *st, int64_t i0, int64_t i1,
                                    const int relu) {
    const int64_t H = st->H;
    for (int64_t i = i0; i < i1; i++) {
        real *z = st->z + i * H;
        const real *dy = st->dy ? st->dy + seq_row(&st->seq, i) : NULL;
        for (int64_t j = 0; j < H; j += VLEN) {
            const int n = (int)(H - j);
            vreal dh = total_dh(st, i, dy, j, n);
            vreal h = vload_upto(z + j, n);
            vreal dz = relu ? vselect(h > 0, dh, vset1(0)) : dh * (1 - h * h);
            vstore_upto(z + j, dz, n);
        }
    }
}

static void tanh_forward_tile(const FN(fwd_step) *st, int64_t i0, int mr, real *tile,
                              int64_t tile_ld, int64_t j0, int64_t nu) {
    elman_forward_tile(st, i0, mr, tile, tile_ld, j0, nu, 0);
}

static void relu_forward_tile(const FN(fwd_step) *st, int64_t i0, int mr, real *tile,
                              int64_t tile_ld, int64_t j0, int64_t nu) {
    elman_forward_tile(st, i0, mr, tile, tile_ld, j0, nu, 1);
}

static void tanh_backward_rows(const FN(bwd_step) *st, int64_t i0, int64_t i1) {
    elman_backward_rows(st, i0, i1, 0);
}

static void relu_backward_rows(const FN(bwd_step) *st, int64_t i0, int64_t i1) {
    elman_backward_rows(st, i0, i1, 1);
}

const FN(cell_ops) FN(rnn_tanh_cell) = {
    .forward_tile = tanh_forward_tile,
    .backward_rows = tanh_backward_rows,
};

const FN(cell_ops) FN(rnn_relu_cell) = {
    .forward_tile = relu_forward_tile,
    .backward_rows = relu_backward_rows,
};
