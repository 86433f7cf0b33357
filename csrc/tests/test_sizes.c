/* Shapes whose arrays or workspaces would not fit a 64-bit byte count are
 * refused (LSTMF_EINVAL) before anything is allocated or written: no size
 * computation may wrap around into a small allocation. A shape that fits
 * the arithmetic but not the machine gives LSTMF_ENOMEM. */
#include <stdint.h>

#include "lstmf.h"
#include "runner.h"
#include "tests.h"

/* Tiny stand-ins: a call that wrongly went ahead would write past these
 * guarded buffers (caught by the guards or by the sanitizers). */
static void expect_refused(lstmf_shape s, const char *what) {
    double w[4][8] = {{0}};
    lstmf_weights wt = {w[0], w[1], w[2], w[3], NULL, NULL, NULL, NULL, NULL, NULL};
    void *x = gbuf_alloc(8, 8), *y = gbuf_alloc(8, 8), *h_n = gbuf_alloc(8, 8);
    void *c_n = gbuf_alloc(8, 8), *cache = gbuf_alloc(8, 8);
    int64_t *index = gbuf_alloc(8, 8);
    for (int training = 0; training < 2; training++) {
        const int st = lstmf_forward(&s, &wt, x, NULL, NULL, NULL, y, h_n, c_n,
                                     training ? cache : NULL, training ? index : NULL);
        CHECK(st == LSTMF_EINVAL || st == LSTMF_ENOMEM, "forward with %s returned %d", what, st);
    }
    CHECK(lstmf_packed_rows(&s, NULL) < 0, "packed_rows accepted %s", what);
    CHECK(lstmf_cache_elems(&s, 1) < 0, "cache_elems accepted %s", what);
    CHECK(lstmf_cache_index_elems(&s) < 0, "cache_index_elems accepted %s", what);
    CHECK(lstmf_stream_packed_elems(&s, 0) < 0 && lstmf_stream_packed_elems(&s, 1) < 0,
          "stream_packed_elems accepted %s", what);
    /* A stream layer is one step of the shape (only refused if that is too). */
    lstmf_stream_layer layer = {s, wt, w[0], w[1], {w[2], w[3]}, w[0]};
    if (s.steps == 1)
        CHECK(lstmf_stream_workspace_bytes(1, &layer) < 0, "stream_workspace_bytes accepted %s",
              what);
    void *bufs[] = {x, y, h_n, c_n, cache, index};
    for (int i = 0; i < 6; i++) {
        const unsigned char *p = bufs[i];
        int clean = gbuf_intact(p);
        for (int k = 0; k < 64; k++) clean &= p[k] == 0x5A;
        CHECK(clean, "a refused call with %s wrote into buffer %d", what, i);
        gbuf_free(bufs[i]);
    }
}

void test_sizes(void) {
    const int64_t big = (int64_t)1 << 32;
    const lstmf_shape base = {LSTMF_CELL_LSTM, LSTMF_F32, 1, 1, 1, 1, 0, 0, 0};
    lstmf_shape s;
    s = base; s.batch = big; s.steps = big;
    expect_refused(s, "B*T = 2^64");
    s = base; s.batch = (int64_t)1 << 21; s.steps = (int64_t)1 << 21; s.hidden_size = (int64_t)1 << 21;
    expect_refused(s, "B*T*H = 2^63");
    s = base; s.batch = (int64_t)1 << 20; s.steps = (int64_t)1 << 20; s.input_size = (int64_t)1 << 21;
    expect_refused(s, "B*T*D*4 bytes = 2^63");
    s = base; s.hidden_size = big;
    expect_refused(s, "4H*H = 2^66 (W_hh)");
    s = base; s.hidden_size = (int64_t)1 << 30; s.dtype = LSTMF_F64;
    expect_refused(s, "4H*H*8 bytes = 2^65 (W_hh, f64)");
    s = base; s.input_size = INT64_MAX;
    expect_refused(s, "D = INT64_MAX");
    s = base; s.hidden_size = INT64_MAX;
    expect_refused(s, "H = INT64_MAX");
    s = base; s.cell = LSTMF_CELL_GRU; s.batch = INT64_MAX / 2; s.hidden_size = 3;
    expect_refused(s, "B = 2^62, GRU");
    s = base; s.y_ld = INT64_MAX;
    expect_refused(s, "y_ld = INT64_MAX");
    s = base; s.batch = 3; s.steps = INT64_MAX / 2;
    expect_refused(s, "T = 2^62");

    /* Lengths summing past 2^63 can only come with a refused B*T. */
    s = base; s.batch = 4; s.steps = INT64_MAX / 3;
    const int64_t lengths[4] = {s.steps, s.steps, s.steps, s.steps};
    CHECK(lstmf_packed_rows(&s, lengths) < 0, "lengths summing past 2^63 accepted");

    /* Fits 64-bit byte counts, not memory: W_hh packed is 2^48 bytes. */
    s = base; s.hidden_size = (int64_t)1 << 22;
    CHECK(lstmf_cache_elems(&s, 1) > 0, "a shape that fits the arithmetic refused");
    double w[4][8] = {{0}};
    lstmf_weights wt = {w[0], w[1], w[2], w[3], NULL, NULL, NULL, NULL, NULL, NULL};
    float *y = gbuf_alloc(s.hidden_size, 4), *h_n = gbuf_alloc(s.hidden_size, 4);
    float *c_n = gbuf_alloc(s.hidden_size, 4), x[1] = {0};
    const int st = lstmf_forward(&s, &wt, x, NULL, NULL, NULL, y, h_n, c_n, NULL, NULL);
    CHECK(st == LSTMF_ENOMEM, "forward of a 2^48-byte W_hh returned %d", st);
    CHECK(gbuf_intact(y) && gbuf_intact(h_n) && gbuf_intact(c_n), "ENOMEM forward wrote past outputs");
    gbuf_free(y); gbuf_free(h_n); gbuf_free(c_n);

    /* The stream head: k * n_out past 2^63 bytes. */
    lstmf_stream_layer layer = {{LSTMF_CELL_RNN_TANH, LSTMF_F32, 2, 1, 1, 1, 0, 0, 0}, wt, w[0], w[1],
                                {w[2], w[3]}, NULL};
    double xs[2] = {0}, out[8];
    void *ws = gbuf_alloc(lstmf_stream_workspace_bytes(1, &layer), 1);
    const int sst = lstmf_stream_step(1, &layer, 0, xs, w[0], w[1], INT64_MAX / 2, out, ws);
    CHECK(sst == LSTMF_EINVAL, "a head of 2^62 outputs per stream accepted (%d)", sst);
    gbuf_free(ws);
}
