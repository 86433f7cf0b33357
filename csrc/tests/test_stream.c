/* The streaming API: stacks of mixed cells stepped one observation at a
 * time for k parallel streams, against the reference run layer by layer
 * over the whole sequence, and bit for bit against the library's own
 * sequence forward; guards around every buffer the library writes
 * (states, output, workspace); a NaN input changes nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lstmf.h"
#include "runner.h"
#include "tests.h"

typedef struct {
    int cell;
    int64_t D, H;
} layer_spec;

typedef struct {
    const layer_spec *layers;
    int n_layers;
    int64_t k, T, n_out;
} stack_spec;

static const layer_spec stack_a[] = {
    {LSTMF_CELL_LSTM, 3, 5}, {LSTMF_CELL_GRU, 5, 17}, {LSTMF_CELL_RNN_RELU, 17, 9}};
static const layer_spec stack_b[] = {{LSTMF_CELL_RNN_TANH, 4, 33}, {LSTMF_CELL_LSTM, 33, 2}};
static const layer_spec stack_c[] = {{LSTMF_CELL_GRU, 1, 1}};
static const stack_spec stacks[] = {
    {stack_a, 3, 1, 6, 3}, /* one stream, as est.stream() uses */
    {stack_a, 3, 7, 4, 2}, /* k past a micro-panel */
    {stack_b, 2, 2, 5, 1},
    {stack_c, 1, 1, 3, 0}, /* no head outputs at all */
};

static int64_t esize(int dtype) { return dtype == LSTMF_F64 ? 8 : 4; }

static void *lib_array(const double *src, int64_t n, int dtype) {
    void *p = gbuf_alloc(n, esize(dtype));
    for (int64_t i = 0; i < n; i++) {
        if (dtype == LSTMF_F64) ((double *)p)[i] = src ? src[i] : 0;
        else ((float *)p)[i] = src ? (float)src[i] : 0;
    }
    return p;
}

static double at(const void *p, int64_t i, int dtype) {
    return dtype == LSTMF_F64 ? ((const double *)p)[i] : ((const float *)p)[i];
}

static void run_stack(const stack_spec *sp, int dtype, uint64_t seed) {
    const int L = sp->n_layers;
    const int64_t k = sp->k, T = sp->T, n_out = sp->n_out, H_top = sp->layers[L - 1].H;
    const double tol = dtype == LSTMF_F64 ? 1e-10 : 2e-5;
    rng_t r = rng_seed(seed);
    /* Reference: each layer over the whole sequence, fed the previous one's y. */
    tcase *cases[3];
    double *seq[4];
    seq[0] = NULL;
    for (int l = 0; l < L; l++) {
        cases[l] = case_make(&r, sp->layers[l].cell, k, T, sp->layers[l].D, sp->layers[l].H, 0,
                             0, 0);
        if (l > 0) memcpy(cases[l]->x, seq[l], sizeof(double) * (size_t)(k * T * sp->layers[l].D));
        fwd_out o;
        fwd_out_alloc(cases[l], &o);
        case_reference(cases[l], &o, NULL);
        if (l == 0) seq[0] = cases[0]->x;
        seq[l + 1] = o.y;
        free(o.h_n);
        free(o.c_n);
    }
    /* The library's own sequence forward, layer by layer on its own
     * outputs: a stream's step is its step, so the states must be these
     * bits. */
    double *lib_seq[4];
    lib_seq[0] = seq[0];
    for (int l = 0; l < L; l++) {
        double *x_ref = cases[l]->x;
        if (l > 0) cases[l]->x = lib_seq[l];
        fwd_out o;
        fwd_out_alloc(cases[l], &o);
        lib_run(cases[l], dtype, &o, NULL, "the sequence forward a stream steps through");
        cases[l]->x = x_ref;
        lib_seq[l + 1] = o.y;
        free(o.h_n);
        free(o.c_n);
    }
    double *coef = calloc((size_t)(H_top * n_out + 1), sizeof(double));
    double *intercept = calloc((size_t)(n_out + 1), sizeof(double));
    for (int64_t i = 0; i < H_top * n_out; i++) coef[i] = rng_uniform(&r, -1, 1);
    for (int64_t i = 0; i < n_out; i++) intercept[i] = rng_uniform(&r, -1, 1);

    lstmf_stream_layer layers[3];
    void *to_free[3][8] = {{0}};
    for (int l = 0; l < L; l++) {
        const tcase *c = cases[l];
        const int64_t GH = ref_gates(c->s.cell) * c->s.H, H = c->s.H;
        lstmf_stream_layer *ly = &layers[l];
        ly->shape = (lstmf_shape){c->s.cell, dtype, k, 1, c->s.D, H, 0, 0, 0};
        void **f = to_free[l];
        f[0] = lib_array(c->w_ih, GH * c->s.D, dtype);
        f[1] = lib_array(c->w_hh, GH * H, dtype);
        f[2] = lib_array(c->b_ih, GH, dtype);
        f[3] = lib_array(c->b_hh, GH, dtype);
        ly->w = (lstmf_weights){f[0], f[1], f[2], f[3], NULL, NULL, NULL, NULL, NULL, NULL};
        const int64_t n_ih = lstmf_stream_packed_elems(&ly->shape, 0);
        const int64_t n_hh = lstmf_stream_packed_elems(&ly->shape, 1);
        CHECK(n_ih > 0 && n_hh > 0, "packed sizes %lld %lld", (long long)n_ih, (long long)n_hh);
        f[4] = gbuf_alloc(n_ih, esize(dtype));
        f[5] = gbuf_alloc(n_hh, esize(dtype));
        CHECK(lstmf_stream_pack(&ly->shape, &ly->w, f[4], f[5]) == LSTMF_OK, "stream_pack");
        CHECK(gbuf_intact(f[4]) && gbuf_intact(f[5]), "stream_pack wrote past its buffers");
        ly->packed_ih = f[4];
        ly->packed_hh = f[5];
        f[6] = lib_array(NULL, 2 * k * H, dtype); /* h[0] and h[1] side by side */
        ly->h[0] = f[6];
        ly->h[1] = (char *)f[6] + k * H * esize(dtype);
        f[7] = c->s.cell == LSTMF_CELL_LSTM ? lib_array(NULL, k * H, dtype) : NULL;
        ly->c = f[7];
    }
    void *lcoef = lib_array(coef, H_top * n_out, dtype);
    void *lintercept = lib_array(intercept, n_out, dtype);
    void *out = gbuf_alloc(k * n_out, esize(dtype));
    const int64_t ws_bytes = lstmf_stream_workspace_bytes(L, layers);
    CHECK(ws_bytes > 0, "workspace bytes %lld", (long long)ws_bytes);
    void *ws = gbuf_alloc(ws_bytes, 1);
    const int64_t D0 = sp->layers[0].D;
    double *xt = malloc(sizeof(double) * (size_t)(k * D0));
    int cur = 0;
    for (int64_t t = 0; t < T; t++) {
        for (int64_t i = 0; i < k; i++)
            for (int64_t d = 0; d < D0; d++) xt[i * D0 + d] = seq[0][(i * T + t) * D0 + d];
        void *lx = lib_array(xt, k * D0, dtype);
        int st = lstmf_stream_step(L, layers, cur, lx, lcoef, lintercept, n_out, out, ws);
        CHECK(st == LSTMF_OK, "stream_step returned %d", st);
        cur = 1 - cur;
        for (int l = 0; l < L; l++) {
            const int64_t H = sp->layers[l].H;
            double diff = 0;
            for (int64_t i = 0; i < k; i++)
                for (int64_t j = 0; j < H; j++)
                    diff = fmax(diff, fabs(at(layers[l].h[cur], i * H + j, dtype) -
                                           seq[l + 1][(i * T + t) * H + j]));
            CHECK(diff <= tol * 4, "layer %d state at step %lld off by %g (dtype %d)", l,
                  (long long)t, diff, dtype);
            int64_t other_bits = 0;
            for (int64_t i = 0; i < k; i++)
                for (int64_t j = 0; j < H; j++)
                    other_bits += at(layers[l].h[cur], i * H + j, dtype) !=
                                  lib_seq[l + 1][(i * T + t) * H + j];
            CHECK(other_bits == 0, "layer %d state at step %lld: %lld values not the sequence "
                  "forward's bits (dtype %d)", l, (long long)t, (long long)other_bits, dtype);
            CHECK(gbuf_intact(to_free[l][6]), "a step wrote past layer %d's h", l);
            CHECK(!layers[l].c || gbuf_intact(layers[l].c), "a step wrote past layer %d's c", l);
        }
        double diff = 0;
        for (int64_t i = 0; i < k; i++)
            for (int64_t n = 0; n < n_out; n++) {
                double want = intercept[n];
                for (int64_t j = 0; j < H_top; j++)
                    want += seq[L][(i * T + t) * H_top + j] * coef[j * n_out + n];
                diff = fmax(diff, fabs(at(out, i * n_out + n, dtype) - want));
            }
        CHECK(diff <= tol * 4 * (1 + H_top), "head output at step %lld off by %g", (long long)t,
              diff);
        CHECK(gbuf_intact(out) && gbuf_intact(ws), "a step wrote past out or the workspace");
        gbuf_free(lx);
    }
    /* A NaN observation: LSTMF_ENONFINITE and every state and the output
     * exactly as they were. */
    xt[k * D0 - 1] = NAN;
    void *lx = lib_array(xt, k * D0, dtype);
    unsigned char *before[3][2], *out_before = malloc((size_t)(k * n_out * esize(dtype) + 1));
    memcpy(out_before, out, (size_t)(k * n_out * esize(dtype)));
    for (int l = 0; l < L; l++) {
        const size_t nh = (size_t)(2 * k * sp->layers[l].H * esize(dtype));
        before[l][0] = malloc(nh);
        memcpy(before[l][0], to_free[l][6], nh);
        before[l][1] = malloc(nh / 2);
        if (layers[l].c) memcpy(before[l][1], layers[l].c, nh / 2);
    }
    CHECK(lstmf_stream_step(L, layers, cur, lx, lcoef, lintercept, n_out, out, ws) ==
              LSTMF_ENONFINITE, "a NaN observation is not reported");
    CHECK(memcmp(out_before, out, (size_t)(k * n_out * esize(dtype))) == 0, "NaN step changed out");
    for (int l = 0; l < L; l++) {
        const size_t nh = (size_t)(2 * k * sp->layers[l].H * esize(dtype));
        CHECK(memcmp(before[l][0], to_free[l][6], nh) == 0, "NaN step changed layer %d's h", l);
        CHECK(!layers[l].c || memcmp(before[l][1], layers[l].c, nh / 2) == 0,
              "NaN step changed layer %d's c", l);
        free(before[l][0]);
        free(before[l][1]);
    }
    free(out_before);
    gbuf_free(lx);

    for (int l = 0; l < L; l++) {
        for (int i = 0; i < 8; i++) gbuf_free(to_free[l][i]);
        if (l > 0) free(seq[l]);
        free(lib_seq[l + 1]);
        case_free(cases[l]);
    }
    free(seq[L]);
    free(xt);
    free(coef);
    free(intercept);
    gbuf_free(lcoef);
    gbuf_free(lintercept);
    gbuf_free(out);
    gbuf_free(ws);
}

void test_stream(void) {
    for (int isa = 0; isa < LSTMF_N_ISA; isa++) {
        if (!use_isa(isa)) continue;
        for (int si = 0; si < (int)(sizeof stacks / sizeof stacks[0]); si++)
            for (int dtype = 0; dtype < 2; dtype++) run_stack(&stacks[si], dtype, 500 + si);
    }
}
