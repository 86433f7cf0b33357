/* Argument validation: what the public entry points refuse with
 * LSTMF_EINVAL before anything is allocated or written, and the size limit
 * that keeps every size the kernels compute from wrapping around.
 */
#include <stdlib.h>

#include "kernels.h"
#include "memory.h"
#include "internal.h"

/* Elements by which the kernels may pad a dimension (whole vectors, panels,
 * unit blocks, per-thread tiles): far more than any of them needs. */
#define SIZE_SLACK 2048

/* Every array and workspace of the shape fits LSTMF_MAX_BYTES, with room to
 * spare, so that no size or offset the kernels compute in int64 can
 * overflow and wrap around (all sums and products checked, memory.h).
 * Per sequence row: x, y, dx, the cached row (x, h, the cell's z, c) and
 * the inference workspace; per weight row: W_ih, W_hh, their packed
 * copies and gradients. */
static int sizes_fit(const lstmf_shape *s) {
    const lstmf_cell_info info = lstmf_cell(s->cell);
    const int64_t D = s->input_size, H = s->hidden_size, Y = s->y_ld ? s->y_ld : H;
    const int64_t per_row = lstmf_add(lstmf_add(lstmf_add(lstmf_mul(2, D), Y),
                                                lstmf_mul(info.z_width + 3, H)),
                                      SIZE_SLACK);
    const int64_t seq = lstmf_mul(lstmf_mul(s->batch, s->steps), per_row);
    const int64_t weights = lstmf_mul(lstmf_add(lstmf_mul(info.gates, H), SIZE_SLACK),
                                      lstmf_add(lstmf_add(D, H), SIZE_SLACK));
    const int64_t bytes = lstmf_mul(lstmf_add(seq, weights), 8);
    return bytes >= 0 && bytes <= LSTMF_MAX_BYTES;
}

/* Reduced precisions: float32 calls only; int8 sums of (q + 128) w, at
 * most 255 * 127 each, stay within int32 for K <= 2^16. */
static int precision_ok(const lstmf_shape *s) {
    if (s->precision == LSTMF_PREC_FULL) return 1;
    if (s->dtype != LSTMF_F32) return 0;
    if (s->precision == LSTMF_PREC_BF16) return 1;
    return s->precision == LSTMF_PREC_INT8 && s->input_size <= 65536 &&
           s->hidden_size <= 65536;
}

int lstmf_shape_ok(const lstmf_shape *s) {
    return s && lstmf_cell_gates(s->cell) > 0 &&
           (s->dtype == LSTMF_F32 || s->dtype == LSTMF_F64) && s->batch >= 1 && s->steps >= 1 &&
           s->input_size >= 1 && s->hidden_size >= 1 &&
           (s->y_ld == 0 || s->y_ld >= s->hidden_size) && precision_ok(s) && sizes_fit(s);
}

int lstmf_scales_ok(const lstmf_shape *s, const lstmf_weights *w) {
    if (s->precision != LSTMF_PREC_INT8) return 1;
    if (!w->w_scale_ih || !w->w_scale_hh) return 0;
    const int64_t GH = lstmf_cell_gates(s->cell) * s->hidden_size;
    for (int64_t j = 0; j < GH; j++) {
        const float a = w->w_scale_ih[j], b = w->w_scale_hh[j];
        if (!(a >= 0.0f && a - a == 0.0f && b >= 0.0f && b - b == 0.0f)) return 0;
    }
    return 1;
}

int lstmf_weights_ok(const lstmf_weights *w) {
    return w && w->w_ih && w->w_hh && w->b_ih && w->b_hh;
}

int lstmf_weights_masked(const lstmf_weights *w) {
    return w->x_mask || w->h_mask;
}

int64_t lstmf_packed_rows(const lstmf_shape *s, const int64_t *lengths) {
    if (!lstmf_shape_ok(s)) return LSTMF_EINVAL;
    if (!lengths) return s->batch * s->steps;
    int64_t n = 0;
    for (int64_t b = 0; b < s->batch; b++) {
        if (lengths[b] < 1 || lengths[b] > s->steps) return LSTMF_EINVAL;
        n += lengths[b];
    }
    return n;
}

int lstmf_cache_index_valid(const lstmf_shape *s, const int64_t *index) {
    if (!lstmf_shape_ok(s) || !index) return 0;
    const int64_t B = s->batch, T = s->steps;
    const int64_t *perm = index, *batch_sizes = index + B, *off = index + B + T;
    if (batch_sizes[0] != B || off[0] != 0) return 0;
    for (int64_t t = 0; t < T; t++) {
        if (batch_sizes[t] < 0 || (t > 0 && batch_sizes[t] > batch_sizes[t - 1])) return 0;
        if (off[t + 1] != off[t] + batch_sizes[t]) return 0;
    }
    /* row_len[i] must be the number of steps at which row i is live. */
    const int64_t *row_len = off + T + 1;
    for (int64_t i = 0, t = T; i < B; i++) {
        while (t > 0 && batch_sizes[t - 1] <= i) t--;
        if (row_len[i] != t) return 0;
    }
    unsigned char *seen = calloc((size_t)B, 1);
    if (!seen) return 0;
    int ok = 1;
    for (int64_t i = 0; i < B && ok; i++) {
        ok = perm[i] >= 0 && perm[i] < B && !seen[perm[i]];
        if (ok) seen[perm[i]] = 1;
    }
    free(seen);
    return ok;
}

/* Layers chain (each takes the previous one's H as input), share k and the
 * dtype, and are known cells. */
int lstmf_stream_ok(int n_layers, const lstmf_stream_layer *layers) {
    if (n_layers < 1 || !layers) return 0;
    for (int l = 0; l < n_layers; l++) {
        const lstmf_shape *s = &layers[l].shape;
        if (!lstmf_shape_ok(s) || s->steps != 1 || s->batch != layers[0].shape.batch ||
            s->dtype != layers[0].shape.dtype ||
            (l > 0 && s->input_size != layers[l - 1].shape.hidden_size) ||
            (lstmf_cell(s->cell).has_cell_state && !layers[l].c) ||
            s->precision != layers[0].shape.precision ||
            !layers[l].w.b_ih || !layers[l].w.b_hh || lstmf_weights_masked(&layers[l].w) ||
            !layers[l].packed_ih ||
            !layers[l].packed_hh || !layers[l].h[0] || !layers[l].h[1])
            return 0;
    }
    return 1;
}

int64_t lstmf_forward_ok(const lstmf_shape *s, const lstmf_weights *w, const void *x,
                         const int64_t *lengths, const void *h_n, const void *c_n,
                         const void *cache, const int64_t *cache_index) {
    if (!lstmf_shape_ok(s) || (cache && !cache_index) || !lstmf_weights_ok(w) || !x || !h_n ||
        (lstmf_cell(s->cell).has_cell_state && !c_n) || (!cache && lstmf_weights_masked(w)) ||
        (s->precision && cache) || !lstmf_scales_ok(s, w) ||
        (!w->packed_ih != !w->packed_hh) || (w->packed_ih && !s->precision))
        return LSTMF_EINVAL;
    return lstmf_packed_rows(s, lengths);
}

int lstmf_backward_ok(const lstmf_shape *s, const lstmf_weights *w, const void *cache,
                      const int64_t *cache_index, const lstmf_grads *g) {
    return lstmf_shape_ok(s) && !s->precision && cache && cache_index && lstmf_weights_ok(w) &&
           g && g->w_ih &&
           g->w_hh && g->b_ih && g->b_hh && g->h0 &&
           (!lstmf_cell(s->cell).has_cell_state || g->c0);
}

int lstmf_stream_step_ok(int n_layers, const lstmf_stream_layer *layers, int cur, const void *x,
                         const void *coef, const void *intercept, int64_t n_out, const void *out,
                         const void *workspace) {
    if (!lstmf_stream_ok(n_layers, layers) || (cur != 0 && cur != 1) || n_out < 0 || !x ||
        !workspace || (n_out > 0 && (!coef || !intercept || !out)))
        return 0;
    /* The head's arrays: out (k, n_out) and coef (H_top, n_out). */
    const int64_t k = layers[0].shape.batch, h_top = layers[n_layers - 1].shape.hidden_size;
    const int64_t head = lstmf_mul(lstmf_add(k, h_top), lstmf_add(n_out, 1));
    return head >= 0 && head <= LSTMF_MAX_BYTES / 8;
}
