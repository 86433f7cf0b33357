/* Runtime dispatch: cpuid -> the best compiled kernel variant, chosen once.
 * Also the public entry points of rnn.h, which only validate and route.
 */
#include <stdlib.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h> /* sysconf */
#endif

#include "cache_layout.h"
#include "memory.h"
#include "kernels.h"
#include "omp_compat.h"
#include "internal.h"

#define DECLARE_VARIANTS(isa)                       \
    extern const lstmf_variant lstmf_variant_##isa##_f32; \
    extern const lstmf_variant lstmf_variant_##isa##_f64;

DECLARE_VARIANTS(generic)
#ifdef LSTMF_HAVE_AVX2
DECLARE_VARIANTS(avx2)
#endif
#ifdef LSTMF_HAVE_AVX512
DECLARE_VARIANTS(avx512)
#endif

static const lstmf_variant *const variants[LSTMF_N_ISA][2] = {
    {&lstmf_variant_generic_f32, &lstmf_variant_generic_f64},
#ifdef LSTMF_HAVE_AVX2
    {&lstmf_variant_avx2_f32, &lstmf_variant_avx2_f64},
#else
    {NULL, NULL},
#endif
#ifdef LSTMF_HAVE_AVX512
    {&lstmf_variant_avx512_f32, &lstmf_variant_avx512_f64},
#else
    {NULL, NULL},
#endif
};

static const char *const isa_names[LSTMF_N_ISA] = {"generic", "avx2", "avx512"};
static int active_isa = -1;

const char *lstmf_isa_name(int isa) {
    return isa >= 0 && isa < LSTMF_N_ISA ? isa_names[isa] : "unknown";
}

int lstmf_isa_compiled(int isa) {
    return isa >= 0 && isa < LSTMF_N_ISA && variants[isa][0] != NULL;
}

int lstmf_isa_supported(int isa) {
    if (isa == LSTMF_ISA_GENERIC) return 1;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (isa == LSTMF_ISA_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isa == LSTMF_ISA_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("fma");
#endif
    return 0;
}

int lstmf_isa_init(const char *requested) {
    int ceiling = LSTMF_N_ISA - 1, status = LSTMF_OK;
    if (requested && *requested) {
        ceiling = -1;
        for (int i = 0; i < LSTMF_N_ISA; i++)
            if (strcmp(requested, isa_names[i]) == 0) ceiling = i;
        if (ceiling < 0) {
            ceiling = LSTMF_N_ISA - 1;
            status = LSTMF_EINVAL;
        }
    }
    int chosen = LSTMF_ISA_GENERIC;
    for (int i = 0; i <= ceiling; i++)
        if (lstmf_isa_compiled(i) && lstmf_isa_supported(i)) chosen = i;
    if (requested && *requested && status == LSTMF_OK && chosen != ceiling) status = LSTMF_EINVAL;
    active_isa = chosen;
    return status;
}

int lstmf_isa_active(void) {
    if (active_isa < 0) lstmf_isa_init(NULL);
    return active_isa;
}

/* -1: not read yet. Reading it twice is harmless (the same value). */
static int64_t l1d_bytes = -1;

int64_t lstmf_l1d_bytes(void) {
    int64_t bytes = __atomic_load_n(&l1d_bytes, __ATOMIC_RELAXED);
    if (bytes >= 0) return bytes;
#ifdef _SC_LEVEL1_DCACHE_SIZE
    bytes = sysconf(_SC_LEVEL1_DCACHE_SIZE);
#endif
    if (bytes < 0) bytes = 0;
    __atomic_store_n(&l1d_bytes, bytes, __ATOMIC_RELAXED);
    return bytes;
}

void lstmf_set_l1d_bytes(int64_t bytes) {
    __atomic_store_n(&l1d_bytes, bytes < 0 ? -1 : bytes, __ATOMIC_RELAXED);
}

int64_t lstmf_alloc_bytes_total;

int64_t lstmf_scratch_bytes_allocated(void) {
    return __atomic_load_n(&lstmf_alloc_bytes_total, __ATOMIC_RELAXED);
}

void lstmf_set_num_threads(int n) { omp_set_num_threads(n < 1 ? 1 : n); }
int lstmf_get_num_threads(void) { return omp_get_max_threads(); }

int lstmf_openmp_version(void) {
#ifdef _OPENMP
    return _OPENMP;
#else
    return 0;
#endif
}

int lstmf_cell_gates(int cell) { return lstmf_cell(cell).gates; }

int lstmf_cell_states(int cell) { return lstmf_cell(cell).has_cell_state ? 2 : 1; }

/* Elements by which the kernels may pad a dimension (whole vectors, panels,
 * unit blocks, per-thread tiles): far more than any of them needs. */
#define SIZE_SLACK 2048
#define MAX_BYTES ((int64_t)1 << 60)

/* Every array and workspace of the shape fits MAX_BYTES, with room to
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
    return bytes >= 0 && bytes <= MAX_BYTES;
}

static int shape_ok(const lstmf_shape *s) {
    return s && lstmf_cell_gates(s->cell) > 0 && (s->dtype == LSTMF_F32 || s->dtype == LSTMF_F64) &&
           s->batch >= 1 && s->steps >= 1 && s->input_size >= 1 && s->hidden_size >= 1 &&
           (s->y_ld == 0 || s->y_ld >= s->hidden_size) && sizes_fit(s);
}

static int weights_ok(const lstmf_weights *w) {
    return w && w->w_ih && w->w_hh && w->b_ih && w->b_hh;
}

int64_t lstmf_packed_rows(const lstmf_shape *s, const int64_t *lengths) {
    if (!shape_ok(s)) return LSTMF_EINVAL;
    if (!lengths) return s->batch * s->steps;
    int64_t n = 0;
    for (int64_t b = 0; b < s->batch; b++) {
        if (lengths[b] < 1 || lengths[b] > s->steps) return LSTMF_EINVAL;
        n += lengths[b];
    }
    return n;
}

int64_t lstmf_cache_elems(const lstmf_shape *s, int64_t packed_rows) {
    if (!shape_ok(s) || packed_rows < 0 || packed_rows > s->batch * s->steps) return LSTMF_EINVAL;
    return lstmf_cache_layout(lstmf_cell(s->cell).z_width, lstmf_cell(s->cell).has_cell_state,
                              packed_rows, s->batch, s->input_size, s->hidden_size)
        .total;
}

int lstmf_cache_view_of(const lstmf_shape *s, int64_t packed_rows, lstmf_cache_view *view) {
    if (!shape_ok(s) || packed_rows < 0 || packed_rows > s->batch * s->steps || !view)
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
    if (!shape_ok(s)) return LSTMF_EINVAL;
    return lstmf_index_elems(s->batch, s->steps);
}

int lstmf_cache_index_valid(const lstmf_shape *s, const int64_t *index) {
    if (!shape_ok(s) || !index) return 0;
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

static const lstmf_variant *variant_for(const lstmf_shape *s) {
    return variants[lstmf_isa_active()][s->dtype];
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
    if (!out || !shape_ok(s) || mode < LSTMF_MODE_INFERENCE || mode > LSTMF_MODE_BACKWARD)
        return LSTMF_EINVAL;
    const int64_t N = lstmf_packed_rows(s, lengths);
    if (N < 0) return LSTMF_EINVAL;
    const int64_t elem = s->dtype == LSTMF_F64 ? 8 : 4;
    const int keeps_cache = mode != LSTMF_MODE_INFERENCE;
    lstmf_call_size r;
    r.packed_rows = N;
    r.cache_bytes = keeps_cache ? lstmf_mul(lstmf_cache_elems(s, N), elem) : 0;
    r.index_bytes = keeps_cache ? lstmf_mul(lstmf_cache_index_elems(s), 8) : 0;
    r.workspace_bytes = variant_for(s)->call_workspace_bytes(s, N, mode, want_y_or_dx != 0,
                                                             nthreads < 1 ? 1 : nthreads);
    r.output_bytes = lstmf_mul(call_output_elems(s, mode, want_y_or_dx != 0), elem);
    const int64_t sizes[] = {r.cache_bytes, r.index_bytes, r.workspace_bytes, r.output_bytes};
    for (int i = 0; i < 4; i++)
        if (sizes[i] < 0 || sizes[i] > MAX_BYTES) return LSTMF_EINVAL;
    *out = r;
    return LSTMF_OK;
}

int lstmf_forward(const lstmf_shape *s, const lstmf_weights *w, const void *x,
                  const void *h0, const void *c0, const int64_t *lengths,
                  void *y, void *h_n, void *c_n, void *cache,
                  int64_t *cache_index) {
    if (!shape_ok(s) || lstmf_packed_rows(s, lengths) < 0 || (cache && !cache_index) ||
        !weights_ok(w) || !x || !h_n || (lstmf_cell(s->cell).has_cell_state && !c_n))
        return LSTMF_EINVAL;
    return variant_for(s)->forward(s, w, x, h0, c0, lengths, y, h_n, c_n, cache,
                                   cache_index, lstmf_get_num_threads());
}

int lstmf_backward(const lstmf_shape *s, const lstmf_weights *w,
                   void *cache, const int64_t *cache_index,
                   const void *dy, const void *dh_n, const void *dc_n,
                   const lstmf_grads *g) {
    if (!shape_ok(s) || !cache || !cache_index || !weights_ok(w) || !g || !g->w_ih ||
        !g->w_hh || !g->b_ih || !g->b_hh || !g->h0 ||
        (lstmf_cell(s->cell).has_cell_state && !g->c0))
        return LSTMF_EINVAL;
    return variant_for(s)->backward(s, w, cache, cache_index, dy, dh_n, dc_n, g,
                                    lstmf_get_num_threads());
}

int64_t lstmf_stream_packed_elems(const lstmf_shape *s, int which) {
    if (!shape_ok(s) || (which != 0 && which != 1)) return LSTMF_EINVAL;
    return variant_for(s)->stream_packed_elems(s, which);
}

int lstmf_stream_pack(const lstmf_shape *s, const lstmf_weights *w, void *packed_ih,
                      void *packed_hh) {
    if (!shape_ok(s) || !weights_ok(w) || !packed_ih || !packed_hh) return LSTMF_EINVAL;
    return variant_for(s)->stream_pack(s, w, packed_ih, packed_hh);
}

/* Layers chain (each takes the previous one's H as input), share k and the
 * dtype, and are known cells. */
static int stream_ok(int n_layers, const lstmf_stream_layer *layers) {
    if (n_layers < 1 || !layers) return 0;
    for (int l = 0; l < n_layers; l++) {
        const lstmf_shape *s = &layers[l].shape;
        if (!shape_ok(s) || s->steps != 1 || s->batch != layers[0].shape.batch ||
            s->dtype != layers[0].shape.dtype ||
            (l > 0 && s->input_size != layers[l - 1].shape.hidden_size) ||
            (lstmf_cell(s->cell).has_cell_state && !layers[l].c) ||
            !layers[l].w.b_ih || !layers[l].w.b_hh || !layers[l].packed_ih ||
            !layers[l].packed_hh || !layers[l].h[0] || !layers[l].h[1])
            return 0;
    }
    return 1;
}

int64_t lstmf_stream_workspace_bytes(int n_layers, const lstmf_stream_layer *layers) {
    if (!stream_ok(n_layers, layers)) return LSTMF_EINVAL;
    return variant_for(&layers[0].shape)->stream_workspace_bytes(n_layers, layers);
}

int lstmf_stream_step(int n_layers, const lstmf_stream_layer *layers, int cur, const void *x,
                      const void *coef, const void *intercept, int64_t n_out, void *out,
                      void *workspace) {
    if (!stream_ok(n_layers, layers) || (cur != 0 && cur != 1) || n_out < 0 || !x ||
        !workspace || (n_out > 0 && (!coef || !intercept || !out)))
        return LSTMF_EINVAL;
    /* The head's arrays: out (k, n_out) and coef (H_top, n_out). */
    const int64_t k = layers[0].shape.batch, h_top = layers[n_layers - 1].shape.hidden_size;
    const int64_t head = lstmf_mul(lstmf_add(k, h_top), lstmf_add(n_out, 1));
    if (head < 0 || head > MAX_BYTES / 8) return LSTMF_EINVAL;
    return variant_for(&layers[0].shape)->stream_step(n_layers, layers, cur, x, coef, intercept,
                                                      n_out, out, workspace);
}
