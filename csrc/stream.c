/* One time step for k parallel streams through a stack of layers and a
 * linear head: the same micro-kernel and cell epilogues as the sequence
 * loop, with both weight matrices packed once, on the calling thread
 * (a step is microseconds: waking other threads would cost more). The
 * caller's workspace holds everything, so a step allocates nothing.
 */
#include <string.h>

#include "stream.h"
#include "cells/cell.h"
#include "recurrent.h"
#include "memory.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

int64_t FN(stream_packed_elems)(const lstmf_shape *s, int which) {
    const int G = lstmf_cell(s->cell).gates;
    return which == 0 ? FN(gemm_packed_b_elems)(s->input_size, G * s->hidden_size)
                      : FN(recurrent_packed_elems)(G, s->hidden_size, s->hidden_size);
}

int FN(stream_pack)(const lstmf_shape *s, const lstmf_weights *w, void *packed_ih,
                    void *packed_hh) {
    const int G = lstmf_cell(s->cell).gates;
    const int64_t D = s->input_size, H = s->hidden_size;
    /* W_ih^T (D x G*H): element (k, n) = w_ih[n*D + k]. */
    FN(gemm_pack_b)(D, G * H, (const real *)w->w_ih, 1, D, NULL, packed_ih);
    return FN(pack_recurrent)(G, H, H, (const real *)w->w_hh, packed_hh) ? LSTMF_ENOMEM : LSTMF_OK;
}

/* Scratch: the rows' index (int64, k), one output tile, and z (k rows of
 * the widest cached row). */
typedef struct {
    int64_t rows, tile, z;
} workspace_sizes;

static workspace_sizes sizes_for(int n_layers, const lstmf_stream_layer *layers) {
    workspace_sizes w = {layers[0].shape.batch, 0, 0};
    for (int l = 0; l < n_layers; l++) {
        const lstmf_cell_info info = lstmf_cell(layers[l].shape.cell);
        const int64_t H = layers[l].shape.hidden_size;
        w.tile = w.tile > GEMM_MR * info.gates * recurrent_unit_block(info.gates)
                     ? w.tile : GEMM_MR * info.gates * recurrent_unit_block(info.gates);
        w.z = w.z > info.z_width * H ? w.z : info.z_width * H;
    }
    w.z = lstmf_mul(w.z, w.rows);
    return w;
}

/* -1 (LSTMF_ENOMEM) if the byte count does not fit an int64. */
int64_t FN(stream_workspace_bytes)(int n_layers, const lstmf_stream_layer *layers) {
    const workspace_sizes w = sizes_for(n_layers, layers);
    return lstmf_add(lstmf_add(lstmf_mul(sizeof(int64_t), w.rows),
                               lstmf_mul(sizeof(real), lstmf_add(w.tile, w.z))),
                     64);
}

static void layer_step(const lstmf_stream_layer *layer, int cur, const real *x,
                       const int64_t *rows, real *tile, real *z) {
    const FN(cell_ops) *cell = FN(cell_ops_for)(layer->shape.cell);
    const lstmf_cell_info info = lstmf_cell(layer->shape.cell);
    const int G = info.gates;
    const int64_t k = layer->shape.batch, D = layer->shape.input_size;
    const int64_t H = layer->shape.hidden_size, ZW = info.z_width * H;
    const int64_t U = recurrent_unit_block(G), W = G * U, nblocks = recurrent_blocks(G, H);
    const real *packed_ih = layer->packed_ih, *packed_hh = layer->packed_hh;
    const real *b_ih = layer->w.b_ih;
    const real *h_prev = layer->h[cur];
    real *h_next = layer->h[1 - cur];

    /* z = x W_ih^T + b_ih, one NR-wide panel at a time. */
    for (int64_t p = 0; p * GEMM_NR < G * H; p++) {
        const int nr = (int)MIN(GEMM_NR, G * H - p * GEMM_NR);
        for (int64_t i = 0; i < k; i += GEMM_MR)
            FN(gemm_micro)((int)MIN(GEMM_MR, k - i), nr, D, x + i * D, D, 1,
                           packed_ih + p * D * GEMM_NR, b_ih + p * GEMM_NR,
                           z + i * ZW + p * GEMM_NR, ZW, 0);
    }
    /* Every row ends its sequence here: the epilogue writes h_n (and c_n),
     * which are the next state. */
    FN(fwd_step) st = {
        .H = H, .U = U, .training = 0, .b_hh = layer->w.b_hh, .z_in = z, .z = z,
        .h_prev = h_prev, .h_stride = H, .c_prev = layer->c, .c_out = layer->c,
        .h_out = NULL, .n_next = 0, .y = h_next, .perm = rows,
        .h_n = h_next, .c_n = layer->c,
        .seq = {.perm = rows, .row_len = NULL, .T = 1, .ld = H, .t = 0, .reverse = 0},
    };
    for (int64_t blk = 0; blk < nblocks; blk++) {
        for (int64_t i = 0; i < k; i += GEMM_MR) {
            const int mr = (int)MIN(GEMM_MR, k - i);
            for (int64_t q = 0; q < W / GEMM_NR; q++)
                FN(gemm_micro)(mr, GEMM_NR, H, h_prev + i * H, H, 1,
                               packed_hh + (blk * W / GEMM_NR + q) * H * GEMM_NR, NULL,
                               tile + q * GEMM_NR, W, 0);
            cell->forward_tile(&st, i, mr, tile, W, blk * U, MIN(U, H - blk * U));
        }
    }
}

int FN(stream_step)(int n_layers, const lstmf_stream_layer *layers, int cur, const void *x,
                    const void *coef, const void *intercept, int64_t n_out, void *out,
                    void *workspace) {
    const workspace_sizes w = sizes_for(n_layers, layers);
    const real *xr = x;
    for (int64_t i = 0; i < w.rows * layers[0].shape.input_size; i++)
        if (!(xr[i] - xr[i] == 0)) return LSTMF_ENONFINITE; /* NaN or +-inf */
    int64_t *rows = workspace;
    real *tile = (real *)((char *)workspace + (w.rows * sizeof(int64_t) + 63) / 64 * 64);
    real *z = tile + w.tile;
    for (int64_t i = 0; i < w.rows; i++) rows[i] = i;
    const real *input = x;
    for (int l = 0; l < n_layers; l++) {
        layer_step(&layers[l], cur, input, rows, tile, z);
        input = layers[l].h[1 - cur];
    }
    /* out = h_top coef + intercept */
    const int64_t H = layers[n_layers - 1].shape.hidden_size;
    const real *W = coef, *b = intercept;
    real *o = out;
    for (int64_t i = 0; i < w.rows; i++)
        for (int64_t n = 0; n < n_out; n++) {
            real acc = b[n];
            for (int64_t j = 0; j < H; j++) acc += input[i * H + j] * W[j * n_out + n];
            o[i * n_out + n] = acc;
        }
    return LSTMF_OK;
}
