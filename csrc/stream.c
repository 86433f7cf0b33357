/* One time step for k parallel streams through a stack of layers and a
 * linear head: each layer's step is the sequence loop's (step.h), with the
 * weights packed as it packs them, so the states a stream carries are the
 * bits the sequence's forward computes. On the calling thread (a step is
 * microseconds: waking other threads would cost more); the caller's
 * workspace holds everything, so a step allocates nothing.
 */
#include <string.h>

#include "stream.h"
#include "step.h"

/* Reduced panels (step.h) in whole elements. */
static int64_t reduced_elems(int precision, lstmf_cell_info info, int64_t D, int64_t H,
                             int which) {
    return lstmf_add(step_reduced_bytes(precision, info.gates, D, H, step_fuses_input(info),
                                        which),
                     sizeof(real) - 1) / (int64_t)sizeof(real);
}

/* W_ih^T as the step reads it: packed per unit block with b_ih + b_hh
 * after it when the step fuses the input, else as a plain GEMM operand. */
static int64_t packed_ih_elems(lstmf_cell_info info, int64_t D, int64_t H, int precision) {
    if (precision) return reduced_elems(precision, info, D, H, 0);
    return step_fuses_input(info) ? FN(recurrent_packed_elems)(info.gates, H, D)
                                  : FN(gemm_packed_b_elems)(D, info.gates * H);
}

int64_t FN(reduced_ih_elems)(const lstmf_shape *s) {
    return packed_ih_elems(lstmf_cell(s->cell), s->input_size, s->hidden_size, s->precision);
}

int64_t FN(stream_packed_elems)(const lstmf_shape *s, int which) {
    const lstmf_cell_info info = lstmf_cell(s->cell);
    const int64_t H = s->hidden_size;
    if (which != 0 && s->precision) return reduced_elems(s->precision, info, s->input_size, H, 1);
    if (which != 0) return FN(recurrent_packed_elems)(info.gates, H, H);
    const int64_t in_elems = packed_ih_elems(info, s->input_size, H, s->precision);
    return lstmf_add(in_elems, step_fuses_input(info) ? info.gates * H : 0);
}

int FN(stream_pack)(const lstmf_shape *s, const lstmf_weights *w, void *packed_ih,
                    void *packed_hh) {
    const lstmf_cell_info info = lstmf_cell(s->cell);
    const int G = info.gates;
    const int64_t D = s->input_size, H = s->hidden_size;
    real *wi = packed_ih;
    if (s->precision) {
        int64_t *col_map = lstmf_alloc_n(FN(recurrent_col_map_elems)(G, H), sizeof(int64_t));
        if (!col_map) return LSTMF_ENOMEM;
        const int fuse = step_fuses_input(info);
        step_pack_reduced(s->precision, G, D, H, fuse, w, col_map, wi, packed_hh);
        lstmf_free(col_map);
        real *bias = wi + packed_ih_elems(info, D, H, s->precision);
        for (int64_t j = 0; j < G * H && fuse; j++)
            bias[j] = ((const real *)w->b_ih)[j] + ((const real *)w->b_hh)[j];
        return LSTMF_OK;
    }
    if (step_fuses_input(info)) {
        if (FN(pack_recurrent)(G, H, D, (const real *)w->w_ih, wi, NULL)) return LSTMF_ENOMEM;
        real *bias = wi + packed_ih_elems(info, D, H, 0);
        for (int64_t j = 0; j < G * H; j++)
            bias[j] = ((const real *)w->b_ih)[j] + ((const real *)w->b_hh)[j];
    } else {
        /* W_ih^T (D x G*H): element (k, n) = w_ih[n*D + k]. */
        FN(gemm_pack_b)(D, G * H, (const real *)w->w_ih, 1, D, NULL, wi);
    }
    return FN(pack_recurrent)(G, H, H, (const real *)w->w_hh, packed_hh, NULL) ? LSTMF_ENOMEM : LSTMF_OK;
}

/* Scratch: the rows' index (int64, k), one output tile, and z (k rows of
 * the widest cached row). */
typedef struct {
    int64_t rows, tile, z;
} workspace_sizes;

static workspace_sizes sizes_for(int n_layers, const lstmf_stream_layer *layers) {
    const int64_t k = layers[0].shape.batch;
    workspace_sizes w = {k, 0, 0};
    for (int l = 0; l < n_layers; l++) {
        const lstmf_cell_info info = lstmf_cell(layers[l].shape.cell);
        const int64_t tile = step_scratch_elems(layers[l].shape.precision, info.gates, k,
                                                layers[l].shape.input_size,
                                                layers[l].shape.hidden_size);
        const int64_t z = lstmf_mul(info.z_width, layers[l].shape.hidden_size);
        w.tile = w.tile > tile ? w.tile : tile;
        w.z = w.z > z ? w.z : z;
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
    const int G = info.gates, fuse = step_fuses_input(info);
    const int64_t k = layer->shape.batch, D = layer->shape.input_size;
    const int64_t H = layer->shape.hidden_size, ZW = info.z_width * H;
    const real *wi = layer->packed_ih;
    real *h_next = layer->h[1 - cur];

    step_weights sw = step_weights_of(G, D, H, fuse, wi, layer->packed_hh);
    step_weights_reduce(&sw, layer->shape.precision, wi, layer->packed_hh);
    /* Unless fused: z = x W_ih^T + b_ih first, as the sequence loop does. */
    if (!fuse && sw.precision)
        project_reduced(&sw, 0, k, x, D, 0, (G * H + GEMM_NR - 1) / GEMM_NR, G * H,
                        layer->w.b_ih, z, ZW, tile);
    else if (!fuse)
        rows_times_packed(0, k, x, D, D, wi, G * H, layer->w.b_ih, z, ZW, 0, 0);
    /* Every row ends its sequence here: the epilogue writes h_n (and c_n),
     * which are the next state. */
    const FN(fwd_step) st = {
        .H = H, .U = recurrent_unit_block(G), .training = 0,
        .b_hh = fuse ? wi + packed_ih_elems(info, D, H, layer->shape.precision) : layer->w.b_hh,
        .z_in = fuse ? NULL : z, .z = fuse ? NULL : z,
        .h_prev = layer->h[cur], .h_stride = H, .c_prev = layer->c, .c_out = layer->c,
        .h_out = NULL, .n_next = 0, .y = h_next, .perm = rows,
        .h_n = h_next, .c_n = layer->c,
        .seq = {.perm = rows, .row_len = NULL, .T = 1, .ld = H, .t = 0, .reverse = 0},
    };
    forward_tiles(&sw, cell, &st, 0, k, x, D, st.h_prev, 0, recurrent_blocks(G, H), 0, tile);
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
    /* out = h_top coef + intercept. Each sum over H in HEAD_SUMS partial
     * sums (term j in sum j % HEAD_SUMS), added pairwise: one running sum
     * would be a chain of H dependent multiply-adds, each waiting on the
     * one before. */
    enum { HEAD_SUMS = 8 };
    const int64_t H = layers[n_layers - 1].shape.hidden_size;
    const real *W = coef, *b = intercept;
    real *o = out;
    for (int64_t i = 0; i < w.rows; i++)
        for (int64_t n = 0; n < n_out; n++) {
            const real *h = input + i * H;
            real part[HEAD_SUMS] = {0};
            int64_t j = 0;
            for (; j + HEAD_SUMS <= H; j += HEAD_SUMS)
                for (int p = 0; p < HEAD_SUMS; p++) part[p] += h[j + p] * W[(j + p) * n_out + n];
            for (int p = 0; j < H; j++, p++) part[p] += h[j] * W[j * n_out + n];
            for (int half = HEAD_SUMS / 2; half >= 1; half /= 2)
                for (int p = 0; p < half; p++) part[p] += part[p + half];
            o[i * n_out + n] = b[n] + part[0];
        }
    return LSTMF_OK;
}
