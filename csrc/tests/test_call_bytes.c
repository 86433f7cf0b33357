/* The cell registry and the size query. The registry's rows agree with
 * what the kernels do with each cell (gates, states, cache width); and
 * lstmf_call_bytes gives, for every mode, thread count, ISA and dtype,
 * exactly the scratch the call then allocates, the cache and index sizes
 * the other queries give, and refuses what the calls refuse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lstmf.h"
#include "internal.h"
#include "runner.h"
#include "tests.h"

void test_registry(void) {
    static const char *const names[] = {"lstm", "rnn_tanh", "rnn_relu", "gru"};
    static const int gates[] = {4, 1, 1, 3};
    CHECK(lstmf_cell_count() == 4, "%d cells", lstmf_cell_count());
    for (int cell = 0; cell < lstmf_cell_count(); cell++) {
        const lstmf_cell_desc *d = lstmf_cell_describe(cell);
        CHECK(d != NULL && d->name != NULL && d->gates > 0, "cell %d has no row", cell);
        if (!d || !d->name) continue;
        CHECK(strcmp(d->name, names[cell]) == 0, "cell %d is named %s", cell, d->name);
        CHECK(d->gates == gates[cell] && d->gates == lstmf_cell_gates(cell),
              "cell %d: %d gates", cell, d->gates);
        CHECK(lstmf_cell_states(cell) == (d->has_cell_state ? 2 : 1), "cell %d: states", cell);
        CHECK(d->z_width >= d->gates && d->n_gate_names <= d->z_width && d->n_gate_names <= 4,
              "cell %d: z_width %d, %d gate names", cell, d->z_width, d->n_gate_names);
        for (int g = 0; g < d->n_gate_names; g++)
            CHECK(d->gate_names[g] && *d->gate_names[g], "cell %d: gate %d unnamed", cell, g);
        /* The cache the kernels lay out is the row's: z_width columns of H
         * per row, and c rows only with a cell state. */
        const lstmf_shape s = {cell, LSTMF_F32, 3, 5, 2, 7, 0, 0, 0};
        lstmf_cache_view v;
        CHECK(lstmf_cache_view_of(&s, 11, &v) == LSTMF_OK && v.z_width == d->z_width,
              "cell %d: the cache view's z_width", cell);
        const int64_t want = 11 * (2 + 7) + 11 * d->z_width * 7 + (d->has_cell_state ? 14 * 7 : 0);
        CHECK(lstmf_cache_elems(&s, 11) == want, "cell %d: cache of %lld elements", cell,
              (long long)lstmf_cache_elems(&s, 11));
    }
    CHECK(lstmf_cell_describe(-1) == NULL && lstmf_cell_describe(lstmf_cell_count()) == NULL,
          "an unknown cell has a row");
    CHECK(lstmf_cell_gates(lstmf_cell_count()) == 0, "an unknown cell has gates");
}

static void *zeros(int64_t n, int64_t elem) { return calloc((size_t)(n > 0 ? n : 1), (size_t)elem); }

/* One forward (and, training, one backward) of shape s, each checked
 * against lstmf_call_bytes for the thread count it runs on. */
static void measure(lstmf_shape s, const int64_t *lengths, int training, int want,
                    const char *label) {
    const int64_t B = s.batch, T = s.steps, D = s.input_size, H = s.hidden_size;
    const int64_t GH = lstmf_cell_gates(s.cell) * H, e = s.dtype == LSTMF_F64 ? 8 : 4;
    const int nt = lstmf_get_num_threads();
    void *w_ih = zeros(GH * D, e), *w_hh = zeros(GH * H, e), *b_ih = zeros(GH, e);
    void *b_hh = zeros(GH, e), *x = zeros(B * T * D, e), *y = zeros(B * T * H, e);
    void *h_n = zeros(B * H, e), *c_n = zeros(B * H, e);
    lstmf_weights w = {w_ih, w_hh, b_ih, b_hh, NULL, NULL, NULL, NULL, NULL, NULL};
    lstmf_call_size f, b;
    int st = lstmf_call_bytes(&s, lengths, training ? LSTMF_MODE_TRAINING : LSTMF_MODE_INFERENCE,
                              want, nt, &f);
    CHECK(st == LSTMF_OK, "%s: call_bytes returned %d", label, st);
    const int64_t N = lstmf_packed_rows(&s, lengths);
    CHECK(f.packed_rows == N, "%s: %lld packed rows", label, (long long)f.packed_rows);
    CHECK(f.cache_bytes == (training ? lstmf_cache_elems(&s, N) * e : 0) &&
              f.index_bytes == (training ? lstmf_cache_index_elems(&s) * 8 : 0),
          "%s: cache %lld, index %lld bytes", label, (long long)f.cache_bytes,
          (long long)f.index_bytes);
    void *cache = training ? zeros(f.cache_bytes, 1) : NULL;
    int64_t *index = training ? zeros(f.index_bytes, 1) : NULL;
    int64_t before = lstmf_scratch_bytes_allocated();
    st = lstmf_forward(&s, &w, x, NULL, NULL, lengths, want ? y : NULL, h_n, c_n, cache, index);
    int64_t used = lstmf_scratch_bytes_allocated() - before;
    CHECK(st == LSTMF_OK, "%s: forward returned %d", label, st);
    CHECK(used == f.workspace_bytes, "%s: forward allocated %lld bytes, call_bytes said %lld",
          label, (long long)used, (long long)f.workspace_bytes);
    if (training) {
        st = lstmf_call_bytes(&s, lengths, LSTMF_MODE_BACKWARD, want, nt, &b);
        CHECK(st == LSTMF_OK && b.cache_bytes == f.cache_bytes && b.index_bytes == f.index_bytes,
              "%s: backward's call_bytes (%d)", label, st);
        lstmf_grads g = {zeros(GH * D, e), zeros(GH * H, e), zeros(GH, e), zeros(GH, e),
                         want ? zeros(B * T * D, e) : NULL, zeros(B * H, e), zeros(B * H, e),
                         NULL, NULL};
        before = lstmf_scratch_bytes_allocated();
        st = lstmf_backward(&s, &w, cache, index, NULL, NULL, NULL, &g);
        used = lstmf_scratch_bytes_allocated() - before;
        CHECK(st == LSTMF_OK, "%s: backward returned %d", label, st);
        CHECK(used == b.workspace_bytes,
              "%s: backward allocated %lld bytes, call_bytes said %lld", label, (long long)used,
              (long long)b.workspace_bytes);
        void *gs[] = {g.w_ih, g.w_hh, g.b_ih, g.b_hh, g.x, g.h0, g.c0};
        for (int i = 0; i < 7; i++) free(gs[i]);
    }
    void *bufs[] = {w_ih, w_hh, b_ih, b_hh, x, y, h_n, c_n, cache, index};
    for (int i = 0; i < 10; i++) free(bufs[i]);
}

static void refused(void) {
    lstmf_call_size out;
    lstmf_shape s = {LSTMF_CELL_LSTM, LSTMF_F32, 2, 3, 4, 5, 0, 0, 0};
    const int64_t bad_len[2] = {3, 4};
    CHECK(lstmf_call_bytes(&s, bad_len, LSTMF_MODE_TRAINING, 1, 1, &out) == LSTMF_EINVAL,
          "a length past T accepted");
    CHECK(lstmf_call_bytes(&s, NULL, 3, 1, 1, &out) == LSTMF_EINVAL, "mode 3 accepted");
    CHECK(lstmf_call_bytes(&s, NULL, 0, 1, 1, NULL) == LSTMF_EINVAL, "out NULL accepted");
    CHECK(lstmf_call_bytes(NULL, NULL, 0, 1, 1, &out) == LSTMF_EINVAL, "shape NULL accepted");
    s.cell = lstmf_cell_count();
    CHECK(lstmf_call_bytes(&s, NULL, 0, 1, 1, &out) == LSTMF_EINVAL, "an unknown cell accepted");
    s.cell = -1;
    CHECK(lstmf_call_bytes(&s, NULL, 0, 1, 1, &out) == LSTMF_EINVAL, "cell -1 accepted");
    s.cell = LSTMF_CELL_LSTM;
    s.batch = s.steps = (int64_t)1 << 32;
    CHECK(lstmf_call_bytes(&s, NULL, 0, 1, 1, &out) == LSTMF_EINVAL, "B*T = 2^64 accepted");
    /* Within 2^60 with its scratch: sized (the call itself would get ENOMEM). */
    s = (lstmf_shape){LSTMF_CELL_LSTM, LSTMF_F64, 1, 1, 1, (int64_t)1 << 27, 0, 0, 0};
    CHECK(lstmf_call_bytes(&s, NULL, 0, 1, 1, &out) == LSTMF_OK &&
              out.workspace_bytes > ((int64_t)1 << 59),
          "a 2^59-byte W_hh: %lld bytes of workspace", (long long)out.workspace_bytes);
}

void test_call_bytes(void) {
    refused();
    /* (B, T, D, H): B = 1 with products large enough to split columns,
     * B past a micro-panel, and a weight gradient large enough for threads. */
    const int64_t dims[][4] = {{1, 3, 8, 200}, {7, 5, 3, 20}, {13, 9, 40, 64}};
    const int64_t lengths[13] = {5, 1, 3, 5, 2, 4, 4, 1, 5, 3, 2, 5, 1};
    const int threads[] = {1, 2, 3};
    const int saved = lstmf_get_num_threads();
    for (int cell = 0; cell < lstmf_cell_count(); cell++)
        for (int di = 0; di < 3; di++)
            for (int isa = 0; isa < LSTMF_N_ISA; isa++) {
                if (!use_isa(isa)) continue;
                for (int k = 0; k < 8; k++) {
                    const int dtype = k & 1, training = (k >> 1) & 1, packed = (k >> 2) & 1;
                    lstmf_shape s = {cell, dtype, dims[di][0], dims[di][1], dims[di][2],
                                     dims[di][3], 0, (int)(k & 1), 0};
                    /* The plan's layout, hence its workspace, is the same
                     * under any hold (thread_split.h). */
                    for (int ti = 0; ti < 3; ti++)
                        for (int hold = -1; hold <= 2; hold++)
                            for (int want = 0; want < 2; want++) {
                                char label[128];
                                snprintf(label, sizeof label,
                                         "cell %d B=%lld %s %s %s %s, %d threads, hold %d, "
                                         "want=%d", cell, (long long)s.batch,
                                         lstmf_isa_name(isa), dtype ? "f64" : "f32",
                                         training ? "training" : "inference",
                                         packed ? "packed" : "full", threads[ti], hold, want);
                                lstmf_set_num_threads(threads[ti]);
                                lstmf_set_forced_hold(hold);
                                measure(s, packed && s.batch > 1 ? lengths : NULL, training,
                                        want, label);
                            }
                    lstmf_set_forced_hold(-1);
                }
            }
    lstmf_set_num_threads(saved);
}
