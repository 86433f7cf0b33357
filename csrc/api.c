/* The public entry points (lstmf.h): each validates its arguments
 * (validate.c) and routes the call to the active variant (isa.c).
 */
#include "cache_layout.h"
#include "memory.h"
#include "kernels.h"
#include "omp_compat.h"
#include "internal.h"

void lstmf_set_num_threads(int n) { omp_set_num_threads(n < 1 ? 1 : n); }
int lstmf_get_num_threads(void) { return omp_get_max_threads(); }

int lstmf_openmp_version(void) {
#ifdef _OPENMP
    return _OPENMP;
#else
    return 0;
#endif
}

int64_t lstmf_cache_elems(const lstmf_shape *s, int64_t packed_rows) {
    if (!lstmf_shape_ok(s) || packed_rows < 0 || packed_rows > s->batch * s->steps)
        return LSTMF_EINVAL;
    return lstmf_cache_layout(lstmf_cell(s->cell).z_width, lstmf_cell(s->cell).has_cell_state,
                              packed_rows, s->batch, s->input_size, s->hidden_size)
        .total;
}

int lstmf_cache_view_of(const lstmf_shape *s, int64_t packed_rows, lstmf_cache_view *view) {
    if (!lstmf_shape_ok(s) || packed_rows < 0 || packed_rows > s->batch * s->steps || !view)
        return LSTMF_EINVAL;
    const lstmf_cell_info info = lstmf_cell(s->cell);
    lstmf_cache_offsets o = lstmf_cache_layout(info.z_width, info.has_cell_state, packed_rows,
                                               s->batch, s->input_size, s->hidden_size);
    view->z = o.z;
    view->c = o.c;
    view->z_width = info.z_width;
    return LSTMF_OK;
}

int64_t lstmf_cache_index_elems(const lstmf_shape *s) {
    if (!lstmf_shape_ok(s)) return LSTMF_EINVAL;
    return lstmf_index_elems(s->batch, s->steps);
}

/* The arrays a forward (y only if wanted) or a backward (dx only if
 * wanted) writes, in elements. */
static int64_t call_output_elems(const lstmf_shape *s, int mode, int want) {
    const lstmf_cell_info info = lstmf_cell(s->cell);
    const int64_t B = s->batch, T = s->steps, D = s->input_size, H = s->hidden_size;
    const int64_t states = lstmf_mul(info.has_cell_state ? 2 : 1, lstmf_mul(B, H));
    if (mode != LSTMF_MODE_BACKWARD)
        return lstmf_add(states, want ? lstmf_mul(lstmf_mul(B, T), H) : 0);
    const int64_t GH = lstmf_mul(info.gates, H);
    const int64_t params = lstmf_mul(GH, lstmf_add(lstmf_add(D, H), 2));
    return lstmf_add(lstmf_add(params, states), want ? lstmf_mul(lstmf_mul(B, T), D) : 0);
}

int lstmf_call_bytes(const lstmf_shape *s, const int64_t *lengths, int mode, int want_y_or_dx,
                     int nthreads, lstmf_call_size *out) {
    if (!out || !lstmf_shape_ok(s) || mode < LSTMF_MODE_INFERENCE || mode > LSTMF_MODE_BACKWARD ||
        (s->precision && mode != LSTMF_MODE_INFERENCE))
        return LSTMF_EINVAL;
    const int64_t N = lstmf_packed_rows(s, lengths);
    if (N < 0) return LSTMF_EINVAL;
    const int64_t elem = s->dtype == LSTMF_F64 ? 8 : 4;
    const int keeps_cache = mode != LSTMF_MODE_INFERENCE;
    lstmf_call_size r;
    r.packed_rows = N;
    r.cache_bytes = keeps_cache ? lstmf_mul(lstmf_cache_elems(s, N), elem) : 0;
    r.index_bytes = keeps_cache ? lstmf_mul(lstmf_cache_index_elems(s), 8) : 0;
    r.workspace_bytes = lstmf_variant_of(s->dtype)->call_workspace_bytes(
        s, N, mode, want_y_or_dx != 0, nthreads < 1 ? 1 : nthreads);
    r.output_bytes = lstmf_mul(call_output_elems(s, mode, want_y_or_dx != 0), elem);
    const int64_t sizes[] = {r.cache_bytes, r.index_bytes, r.workspace_bytes, r.output_bytes};
    for (int i = 0; i < 4; i++)
        if (sizes[i] < 0 || sizes[i] > LSTMF_MAX_BYTES) return LSTMF_EINVAL;
    *out = r;
    return LSTMF_OK;
}

int lstmf_forward(const lstmf_shape *s, const lstmf_weights *w, const void *x,
                  const void *h0, const void *c0, const int64_t *lengths,
                  void *y, void *h_n, void *c_n, void *cache,
                  int64_t *cache_index) {
    const int64_t packed_rows = lstmf_forward_ok(s, w, x, lengths, h_n, c_n, cache, cache_index);
    if (packed_rows < 0) return LSTMF_EINVAL;
    return lstmf_variant_of(s->dtype)->forward(s, w, x, h0, c0, lengths, packed_rows, y, h_n,
                                               c_n, cache, cache_index, lstmf_get_num_threads());
}

int lstmf_backward(const lstmf_shape *s, const lstmf_weights *w,
                   void *cache, const int64_t *cache_index,
                   const void *dy, const void *dh_n, const void *dc_n,
                   const lstmf_grads *g) {
    if (!lstmf_backward_ok(s, w, cache, cache_index, g)) return LSTMF_EINVAL;
    return lstmf_variant_of(s->dtype)->backward(s, w, cache, cache_index, dy, dh_n, dc_n, g,
                                                lstmf_get_num_threads());
}

int64_t lstmf_stream_packed_elems(const lstmf_shape *s, int which) {
    if (!lstmf_shape_ok(s) || (which != 0 && which != 1)) return LSTMF_EINVAL;
    return lstmf_variant_of(s->dtype)->stream_packed_elems(s, which);
}

int lstmf_stream_pack(const lstmf_shape *s, const lstmf_weights *w, void *packed_ih,
                      void *packed_hh) {
    if (!lstmf_shape_ok(s) || !lstmf_weights_ok(w) || lstmf_weights_masked(w) || !packed_ih ||
        !packed_hh || !lstmf_scales_ok(s, w))
        return LSTMF_EINVAL;
    return lstmf_variant_of(s->dtype)->stream_pack(s, w, packed_ih, packed_hh);
}

int64_t lstmf_stream_workspace_bytes(int n_layers, const lstmf_stream_layer *layers) {
    if (!lstmf_stream_ok(n_layers, layers)) return LSTMF_EINVAL;
    return lstmf_variant_of(layers[0].shape.dtype)->stream_workspace_bytes(n_layers, layers);
}

int lstmf_stream_step(int n_layers, const lstmf_stream_layer *layers, int cur, const void *x,
                      const void *coef, const void *intercept, int64_t n_out, void *out,
                      void *workspace) {
    if (!lstmf_stream_step_ok(n_layers, layers, cur, x, coef, intercept, n_out, out, workspace))
        return LSTMF_EINVAL;
    return lstmf_variant_of(layers[0].shape.dtype)
        ->stream_step(n_layers, layers, cur, x, coef, intercept, n_out, out, workspace);
}
