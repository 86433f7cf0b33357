/* Invalid arguments are refused with LSTMF_EINVAL (never a crash), and a
 * refused call writes nothing. */
#include <stdint.h>
#include <string.h>

#include "lstmf.h"
#include "runner.h"
#include "tests.h"

/* Buffers big enough for the valid shape below (B=2, T=3, D=2, H=3, LSTM),
 * so that a call that wrongly went ahead would not crash first. */
enum { N = 4096 };
static double wbuf[4][N], xbuf[N], h0buf[N];

typedef struct {
    lstmf_shape s;
    lstmf_weights w;
    void *y, *h_n, *c_n, *cache;
    int64_t *index;
} fixture;

static fixture make(void) {
    fixture f;
    f.s = (lstmf_shape){LSTMF_CELL_LSTM, LSTMF_F64, 2, 3, 2, 3, 0, 0, 0};
    f.w = (lstmf_weights){wbuf[0], wbuf[1], wbuf[2], wbuf[3], NULL, NULL, NULL, NULL, NULL, NULL};
    f.y = gbuf_alloc(N, 8);
    f.h_n = gbuf_alloc(N, 8);
    f.c_n = gbuf_alloc(N, 8);
    f.cache = gbuf_alloc(N, 8);
    f.index = gbuf_alloc(N, 8);
    return f;
}

/* The library wrote nothing into any output. */
static int pristine(const fixture *f) {
    void *bufs[] = {f->y, f->h_n, f->c_n, f->cache, f->index};
    for (int b = 0; b < 5; b++) {
        const unsigned char *p = bufs[b];
        for (int64_t i = 0; i < N * 8; i++)
            if (p[i] != 0x5A) return 0;
        if (!gbuf_intact(bufs[b])) return 0;
    }
    return 1;
}

static void release(fixture *f) {
    gbuf_free(f->y); gbuf_free(f->h_n); gbuf_free(f->c_n); gbuf_free(f->cache);
    gbuf_free(f->index);
}

static int forward(fixture *f, const int64_t *lengths, int training) {
    return lstmf_forward(&f->s, &f->w, xbuf, h0buf, h0buf, lengths, f->y, f->h_n, f->c_n,
                         training ? f->cache : NULL, training ? f->index : NULL);
}

enum { F_CELL, F_DTYPE, F_BATCH, F_STEPS, F_INPUT, F_HIDDEN, F_YLD };

static void bad_shapes(void) {
    static const struct {
        const char *what;
        int field;
        int64_t value;
    } cases[] = {
        {"unknown cell", F_CELL, 4},        {"negative cell", F_CELL, -1},
        {"unknown dtype", F_DTYPE, 2},      {"batch 0", F_BATCH, 0},
        {"negative batch", F_BATCH, -5},    {"no steps", F_STEPS, 0},
        {"no inputs", F_INPUT, 0},          {"no hidden units", F_HIDDEN, 0},
        {"negative hidden", F_HIDDEN, -3},  {"y rows narrower than H", F_YLD, 2},
        {"negative y_ld", F_YLD, -1},       {"most negative batch", F_BATCH, INT64_MIN},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        fixture f = make();
        switch (cases[i].field) {
            case F_CELL: f.s.cell = (int)cases[i].value; break;
            case F_DTYPE: f.s.dtype = (int)cases[i].value; break;
            case F_BATCH: f.s.batch = cases[i].value; break;
            case F_STEPS: f.s.steps = cases[i].value; break;
            case F_INPUT: f.s.input_size = cases[i].value; break;
            case F_HIDDEN: f.s.hidden_size = cases[i].value; break;
            default: f.s.y_ld = cases[i].value; break;
        }
        for (int training = 0; training < 2; training++)
            CHECK(forward(&f, NULL, training) == LSTMF_EINVAL, "forward accepted %s",
                  cases[i].what);
        CHECK(lstmf_packed_rows(&f.s, NULL) == LSTMF_EINVAL, "packed_rows accepted %s",
              cases[i].what);
        CHECK(lstmf_cache_elems(&f.s, 1) == LSTMF_EINVAL, "cache_elems accepted %s",
              cases[i].what);
        CHECK(lstmf_cache_index_elems(&f.s) == LSTMF_EINVAL, "cache_index_elems accepted %s",
              cases[i].what);
        CHECK(lstmf_stream_packed_elems(&f.s, 0) == LSTMF_EINVAL,
              "stream_packed_elems accepted %s", cases[i].what);
        CHECK(lstmf_stream_pack(&f.s, &f.w, f.cache, f.index) == LSTMF_EINVAL,
              "stream_pack accepted %s", cases[i].what);
        CHECK(pristine(&f), "a refused call with %s wrote into an output", cases[i].what);
        release(&f);
    }
}

static void bad_pointers_and_lengths(void) {
    fixture f = make();
    CHECK(lstmf_forward(NULL, &f.w, xbuf, NULL, NULL, NULL, f.y, f.h_n, f.c_n, NULL, NULL) ==
              LSTMF_EINVAL, "forward accepted no shape");
    const int64_t bad_lengths[][2] = {{0, 3}, {3, 4}, {-1, 2}, {INT64_MIN, 1}, {INT64_MAX, 1}};
    for (int i = 0; i < 5; i++) {
        CHECK(forward(&f, bad_lengths[i], 0) == LSTMF_EINVAL, "forward accepted lengths %lld",
              (long long)bad_lengths[i][0]);
        CHECK(lstmf_packed_rows(&f.s, bad_lengths[i]) == LSTMF_EINVAL,
              "packed_rows accepted lengths %lld", (long long)bad_lengths[i][0]);
    }
    /* A training forward needs both the cache and its index. */
    CHECK(lstmf_forward(&f.s, &f.w, xbuf, NULL, NULL, NULL, f.y, f.h_n, f.c_n, f.cache, NULL) ==
              LSTMF_EINVAL, "forward accepted a cache without an index");
    /* Required arrays. */
    CHECK(lstmf_forward(&f.s, NULL, xbuf, NULL, NULL, NULL, f.y, f.h_n, f.c_n, NULL, NULL) ==
              LSTMF_EINVAL, "forward accepted no weights");
    lstmf_weights no_hh = f.w;
    no_hh.w_hh = NULL;
    CHECK(lstmf_forward(&f.s, &no_hh, xbuf, NULL, NULL, NULL, f.y, f.h_n, f.c_n, NULL, NULL) ==
              LSTMF_EINVAL, "forward accepted no W_hh");
    CHECK(lstmf_forward(&f.s, &f.w, NULL, NULL, NULL, NULL, f.y, f.h_n, f.c_n, NULL, NULL) ==
              LSTMF_EINVAL, "forward accepted no x");
    CHECK(lstmf_forward(&f.s, &f.w, xbuf, NULL, NULL, NULL, f.y, NULL, f.c_n, NULL, NULL) ==
              LSTMF_EINVAL, "forward accepted no h_n");
    CHECK(lstmf_forward(&f.s, &f.w, xbuf, NULL, NULL, NULL, f.y, f.h_n, NULL, NULL, NULL) ==
              LSTMF_EINVAL, "an LSTM forward accepted no c_n");
    /* Cache sizes of an impossible packed row count. */
    CHECK(lstmf_cache_elems(&f.s, -1) == LSTMF_EINVAL, "cache_elems accepted -1 rows");
    CHECK(lstmf_cache_elems(&f.s, 7) == LSTMF_EINVAL, "cache_elems accepted rows > B*T");
    lstmf_cache_view view;
    CHECK(lstmf_cache_view_of(&f.s, -1, &view) == LSTMF_EINVAL, "cache_view_of accepted -1 rows");
    CHECK(lstmf_cache_view_of(&f.s, 7, &view) == LSTMF_EINVAL, "cache_view_of accepted 7 rows");
    CHECK(lstmf_cache_view_of(&f.s, 1, NULL) == LSTMF_EINVAL, "cache_view_of accepted no view");
    CHECK(pristine(&f), "a refused forward wrote into an output");
    release(&f);
}

static void bad_backward(void) {
    fixture f = make();
    double g[9][N];
    lstmf_grads gr = {g[0], g[1], g[2], g[3], g[4], g[5], g[6], NULL, NULL};
    /* A real training forward first, so that only the argument under test is wrong. */
    CHECK(forward(&f, NULL, 1) == LSTMF_OK, "training forward");
    CHECK(lstmf_cache_index_valid(&f.s, f.index), "forward's index");
    CHECK(lstmf_backward(&f.s, &f.w, NULL, f.index, NULL, NULL, NULL, &gr) == LSTMF_EINVAL,
          "backward accepted no cache");
    CHECK(lstmf_backward(&f.s, &f.w, f.cache, NULL, NULL, NULL, NULL, &gr) == LSTMF_EINVAL,
          "backward accepted no index");
    CHECK(lstmf_backward(&f.s, &f.w, f.cache, f.index, NULL, NULL, NULL, NULL) == LSTMF_EINVAL,
          "backward accepted no gradients");
    CHECK(lstmf_backward(&f.s, NULL, f.cache, f.index, NULL, NULL, NULL, &gr) == LSTMF_EINVAL,
          "backward accepted no weights");
    lstmf_grads no_c0 = gr;
    no_c0.c0 = NULL;
    CHECK(lstmf_backward(&f.s, &f.w, f.cache, f.index, NULL, NULL, NULL, &no_c0) == LSTMF_EINVAL,
          "an LSTM backward accepted no dc0");
    lstmf_shape s = f.s;
    s.hidden_size = 0;
    CHECK(lstmf_backward(&s, &f.w, f.cache, f.index, NULL, NULL, NULL, &gr) == LSTMF_EINVAL,
          "backward accepted H = 0");

    /* Corrupt indexes are told apart from the real one. */
    const int64_t B = f.s.batch, T = f.s.steps;
    int64_t good[16];
    memcpy(good, f.index, sizeof(int64_t) * (size_t)lstmf_cache_index_elems(&f.s));
    struct { const char *what; int64_t pos, value; } corrupt[] = {
        {"perm repeats a sample", 1, good[0]},
        {"perm out of range", 0, B},
        {"negative perm", 0, -1},
        {"first step not the whole batch", B, B - 1},
        {"offsets that skip rows", B + T + 1, good[B + T + 1] + 1},
        {"a row length too long", B + 2 * T + 1, T + 1},
    };
    for (int i = 0; i < (int)(sizeof corrupt / sizeof corrupt[0]); i++) {
        memcpy(f.index, good, sizeof good);
        f.index[corrupt[i].pos] = corrupt[i].value;
        CHECK(!lstmf_cache_index_valid(&f.s, f.index), "index valid with %s", corrupt[i].what);
    }
    CHECK(!lstmf_cache_index_valid(&f.s, NULL), "a NULL index is valid");
    release(&f);
}

static void bad_streams(void) {
    double w[4][N], packed[2][N], h[2][N], c[N], x[N], out[N], ws[N];
    lstmf_stream_layer layers[2];
    for (int l = 0; l < 2; l++) {
        layers[l].shape = (lstmf_shape){LSTMF_CELL_LSTM, LSTMF_F64, 2, 1, l ? 3 : 2, 3, 0, 0, 0};
        layers[l].w = (lstmf_weights){w[0], w[1], w[2], w[3], NULL, NULL, NULL, NULL, NULL, NULL};
        layers[l].packed_ih = packed[0];
        layers[l].packed_hh = packed[1];
        layers[l].h[0] = h[0];
        layers[l].h[1] = h[1];
        layers[l].c = c;
    }
    CHECK(lstmf_stream_workspace_bytes(2, layers) > 0, "the valid stack is refused");
    CHECK(lstmf_stream_workspace_bytes(0, layers) == LSTMF_EINVAL, "no layers accepted");
    CHECK(lstmf_stream_workspace_bytes(1, NULL) == LSTMF_EINVAL, "NULL layers accepted");
    CHECK(lstmf_stream_step(2, layers, 2, x, w[0], w[1], 1, out, ws) == LSTMF_EINVAL,
          "cur = 2 accepted");
    CHECK(lstmf_stream_step(2, layers, 0, x, w[0], w[1], -1, out, ws) == LSTMF_EINVAL,
          "n_out = -1 accepted");
    CHECK(lstmf_stream_step(2, layers, 0, NULL, w[0], w[1], 1, out, ws) == LSTMF_EINVAL,
          "no x accepted");
    CHECK(lstmf_stream_step(2, layers, 0, x, w[0], w[1], 1, out, NULL) == LSTMF_EINVAL,
          "no workspace accepted");
    CHECK(lstmf_stream_step(2, layers, 0, x, NULL, w[1], 1, out, ws) == LSTMF_EINVAL,
          "no coef accepted");
    CHECK(lstmf_stream_packed_elems(&layers[0].shape, 2) == LSTMF_EINVAL, "which = 2 accepted");
    layers[1].shape.input_size = 4;
    CHECK(lstmf_stream_workspace_bytes(2, layers) == LSTMF_EINVAL, "unchained layers accepted");
    layers[1].shape.input_size = 3;
    layers[1].shape.steps = 2;
    CHECK(lstmf_stream_workspace_bytes(2, layers) == LSTMF_EINVAL, "2 steps accepted");
    layers[1].shape.steps = 1;
    layers[1].shape.batch = 3;
    CHECK(lstmf_stream_workspace_bytes(2, layers) == LSTMF_EINVAL, "mixed k accepted");
    layers[1].shape.batch = 2;
    layers[1].shape.dtype = LSTMF_F32;
    CHECK(lstmf_stream_workspace_bytes(2, layers) == LSTMF_EINVAL, "mixed dtypes accepted");
    layers[1].shape.dtype = LSTMF_F64;
    layers[1].c = NULL;
    CHECK(lstmf_stream_step(2, layers, 0, x, w[0], w[1], 1, out, ws) == LSTMF_EINVAL,
          "an LSTM layer without c accepted");
    layers[1].c = c;
    layers[0].h[1] = NULL;
    CHECK(lstmf_stream_step(2, layers, 0, x, w[0], w[1], 1, out, ws) == LSTMF_EINVAL,
          "a layer without h[1] accepted");
}

static void misc(void) {
    CHECK(lstmf_cell_gates(99) == 0 && lstmf_cell_gates(-1) == 0, "unknown cells have gates");
    CHECK(lstmf_cell_gates(LSTMF_CELL_LSTM) == 4 && lstmf_cell_gates(LSTMF_CELL_GRU) == 3 &&
              lstmf_cell_gates(LSTMF_CELL_RNN_TANH) == 1, "gate counts");
    CHECK(strcmp(lstmf_isa_name(-1), "unknown") == 0 && strcmp(lstmf_isa_name(3), "unknown") == 0,
          "names of unknown ISAs");
    CHECK(lstmf_isa_init("no-such-isa") == LSTMF_EINVAL, "an unknown ISA name accepted");
    CHECK(lstmf_isa_active() >= 0 && lstmf_isa_active() < LSTMF_N_ISA, "no fallback ISA");
    CHECK(lstmf_isa_init(NULL) == LSTMF_OK, "the default ISA refused");
}

void test_invalid(void) {
    bad_shapes();
    bad_pointers_and_lengths();
    bad_backward();
    bad_streams();
    misc();
}
