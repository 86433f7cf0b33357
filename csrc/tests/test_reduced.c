/* Reduced-precision weights (lstmf.h's LSTMF_PREC_INT8, LSTMF_PREC_BF16):
 * every cell, both directions, every test shape, every ISA:
 * - the forward against the double reference run with the weights the
 *   products use (dequantized int8, bfloat16 values): only the rows of x
 *   and h are rounded then (tolerance below);
 * - int8 outputs the same bits with and without dot-product instructions
 *   (exact int32 sums), and every precision the same bits on 1, 2 and 3
 *   threads and under each thread hold;
 * - a stream's steps, and a forward on weights packed once
 *   (lstmf_stream_pack), the same bits as the forward;
 * - what the entry points refuse: training, float64, missing or negative
 *   scales, int8 past 2^16 inputs, a reduced backward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lstmf.h"
#include "internal.h"
#include "runner.h"
#include "shapes.h"
#include "tests.h"

static const int cells[] = {LSTMF_CELL_LSTM, LSTMF_CELL_GRU, LSTMF_CELL_RNN_TANH,
                            LSTMF_CELL_RNN_RELU};

/* Outputs of unit-variance inputs through up to 14 steps, with the rows of
 * x and h rounded: int8 ~1/254 of each row's largest value, bfloat16 2^-9. */
static const double tolerance[3] = {0, 3e-2, 1.5e-2};

/* A case's weights in precision p: int8 (rows, scales) or bfloat16 bits,
 * and the double values they stand for written back into the case (so the
 * reference runs what the products use). */
typedef struct {
    void *w_ih, *w_hh;
    float *s_ih, *s_hh;
    float *b_ih, *b_hh;
} reduced_weights;

static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static void reduce_matrix(int p, double *w, int64_t rows, int64_t K, void **out, float **scale) {
    *out = malloc((size_t)(rows * K * (p == LSTMF_PREC_INT8 ? 1 : 2)));
    *scale = malloc((size_t)rows * sizeof(float));
    for (int64_t j = 0; j < rows; j++) {
        double amax = 0;
        for (int64_t k = 0; k < K; k++) amax = fmax(amax, fabs(w[j * K + k]));
        const float s = (float)(amax / 127);
        (*scale)[j] = s;
        for (int64_t k = 0; k < K; k++) {
            double *v = &w[j * K + k];
            if (p == LSTMF_PREC_INT8) {
                const int8_t q = s > 0 ? (int8_t)lrint(*v / s) : 0;
                ((int8_t *)*out)[j * K + k] = q;
                *v = (double)q * s;
            } else {
                const uint16_t b = to_bf16((float)*v);
                ((uint16_t *)*out)[j * K + k] = b;
                const uint32_t u = (uint32_t)b << 16;
                float f;
                memcpy(&f, &u, 4);
                *v = f;
            }
        }
    }
}

static reduced_weights reduce(int p, tcase *c) {
    const int64_t GH = lstmf_cell_gates(c->s.cell) * c->s.H;
    reduced_weights r;
    reduce_matrix(p, c->w_ih, GH, c->s.D, &r.w_ih, &r.s_ih);
    reduce_matrix(p, c->w_hh, GH, c->s.H, &r.w_hh, &r.s_hh);
    r.b_ih = malloc((size_t)GH * sizeof(float));
    r.b_hh = malloc((size_t)GH * sizeof(float));
    for (int64_t j = 0; j < GH; j++) {
        r.b_ih[j] = (float)c->b_ih[j], c->b_ih[j] = r.b_ih[j];
        r.b_hh[j] = (float)c->b_hh[j], c->b_hh[j] = r.b_hh[j];
    }
    return r;
}

static void reduced_free(reduced_weights *r) {
    free(r->w_ih), free(r->w_hh), free(r->s_ih), free(r->s_hh), free(r->b_ih), free(r->b_hh);
}

static lstmf_shape shape_of(const tcase *c, int p) {
    lstmf_shape s = {.cell = c->s.cell, .dtype = LSTMF_F32, .batch = c->s.B, .steps = c->s.T,
                     .input_size = c->s.D, .hidden_size = c->s.H, .y_ld = c->y_ld,
                     .reverse = c->s.reverse, .precision = p};
    return s;
}

static lstmf_weights weights_of(const reduced_weights *r, int p) {
    lstmf_weights w = {.w_ih = r->w_ih, .w_hh = r->w_hh, .b_ih = r->b_ih, .b_hh = r->b_hh};
    if (p == LSTMF_PREC_INT8) w.w_scale_ih = r->s_ih, w.w_scale_hh = r->s_hh;
    return w;
}

static float *floats(const double *v, int64_t n) {
    float *f = malloc((size_t)(n ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) f[i] = v ? (float)v[i] : 0.0f;
    return f;
}

/* One forward: y (B, T, y_ld), h_n and c_n in one float buffer. */
static float *run(const tcase *c, int p, const reduced_weights *r, const float *x,
                  const float *h0, const float *c0) {
    const lstmf_shape s = shape_of(c, p);
    const lstmf_weights w = weights_of(r, p);
    const int64_t B = c->s.B, T = c->s.T, H = c->s.H, ld = c->y_ld ? c->y_ld : H;
    float *out = calloc((size_t)(B * T * ld + 2 * B * H), sizeof(float));
    const int st = lstmf_forward(&s, &w, x, h0, c0, c->lengths, out, out + B * T * ld,
                                 out + B * T * ld + B * H, NULL, NULL);
    CHECK(st == LSTMF_OK, "reduced forward returned %d", st);
    return out;
}

static int64_t out_elems(const tcase *c) {
    return c->s.B * c->s.T * (c->y_ld ? c->y_ld : c->s.H) + 2 * c->s.B * c->s.H;
}

static void against_reference(const tcase *c, const float *got, int p, const char *label) {
    const int64_t B = c->s.B, T = c->s.T, H = c->s.H, ld = c->y_ld ? c->y_ld : H;
    fwd_out ref;
    fwd_out_alloc(c, &ref);
    case_reference(c, &ref, NULL);
    double err = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t j = 0; j < H; j++)
                err = fmax(err, fabs(got[(b * T + t) * ld + j] - ref.y[(b * T + t) * H + j]));
    for (int64_t i = 0; i < B * H; i++) {
        err = fmax(err, fabs(got[B * T * ld + i] - ref.h_n[i]));
        if (c->s.cell == LSTMF_CELL_LSTM) err = fmax(err, fabs(got[B * T * ld + B * H + i] - ref.c_n[i]));
    }
    CHECK(err <= tolerance[p], "%s: max |got - reference| %.3g > %.3g", label, err, tolerance[p]);
    fwd_out_free(&ref);
}

/* The forward with the weights packed once (lstmf_stream_pack) gives the
 * bits of the forward that packs them itself. */
static void packed_once(const tcase *c, int p, const reduced_weights *r, const float *x,
                        const float *h0, const float *c0, const float *base, const char *label) {
    lstmf_shape s = shape_of(c, p);
    lstmf_weights w = weights_of(r, p);
    lstmf_shape one = s;
    one.steps = 1;
    float *packed_ih = malloc((size_t)lstmf_stream_packed_elems(&one, 0) * sizeof(float));
    float *packed_hh = malloc((size_t)lstmf_stream_packed_elems(&one, 1) * sizeof(float));
    CHECK(lstmf_stream_pack(&one, &w, packed_ih, packed_hh) == LSTMF_OK, "%s: pack", label);
    w.packed_ih = packed_ih, w.packed_hh = packed_hh;
    const int64_t B = c->s.B, T = c->s.T, H = c->s.H, ld = c->y_ld ? c->y_ld : H;
    const int64_t n = out_elems(c);
    float *out = calloc((size_t)n, sizeof(float));
    CHECK(lstmf_forward(&s, &w, x, h0, c0, c->lengths, out, out + B * T * ld,
                        out + B * T * ld + B * H, NULL, NULL) == LSTMF_OK,
          "%s: forward on packed weights", label);
    CHECK(memcmp(out, base, (size_t)n * sizeof(float)) == 0,
          "%s: packed once, not the bits of packing per call", label);
    w.packed_hh = NULL;
    CHECK(lstmf_forward(&s, &w, x, h0, c0, c->lengths, out, out + B * T * ld,
                        out + B * T * ld + B * H, NULL, NULL) == LSTMF_EINVAL,
          "%s: one of the two packed arrays", label);
    free(out), free(packed_ih), free(packed_hh);
}

static void stream_is_the_loop(const tcase *c, int p, const reduced_weights *r, const float *x,
                               const float *forward, const char *label) {
    if (c->lengths || c->s.reverse || c->h0 || c->y_ld) return; /* plain sequences only */
    const int64_t B = c->s.B, T = c->s.T, D = c->s.D, H = c->s.H;
    lstmf_stream_layer L = {.shape = shape_of(c, p), .w = weights_of(r, p)};
    L.shape.steps = 1;
    float *packed_ih = malloc((size_t)lstmf_stream_packed_elems(&L.shape, 0) * sizeof(float));
    float *packed_hh = malloc((size_t)lstmf_stream_packed_elems(&L.shape, 1) * sizeof(float));
    CHECK(lstmf_stream_pack(&L.shape, &L.w, packed_ih, packed_hh) == LSTMF_OK, "%s: pack", label);
    float *h = calloc((size_t)(2 * B * H), sizeof(float)), *cs = calloc((size_t)(B * H), sizeof(float));
    float *xt = malloc((size_t)(B * D) * sizeof(float));
    L.packed_ih = packed_ih, L.packed_hh = packed_hh, L.h[0] = h, L.h[1] = h + B * H;
    L.c = c->s.cell == LSTMF_CELL_LSTM ? cs : NULL;
    void *ws = malloc((size_t)lstmf_stream_workspace_bytes(1, &L));
    int same = 1;
    for (int64_t t = 0; t < T; t++) {
        for (int64_t b = 0; b < B; b++) memcpy(xt + b * D, x + (b * T + t) * D, (size_t)D * sizeof(float));
        CHECK(lstmf_stream_step(1, &L, (int)(t & 1), xt, NULL, NULL, 0, NULL, ws) == LSTMF_OK,
              "%s: step", label);
        const float *ht = (t & 1) ? h : h + B * H;
        for (int64_t b = 0; b < B; b++)
            same &= memcmp(ht + b * H, forward + (b * T + t) * H, (size_t)H * sizeof(float)) == 0;
    }
    CHECK(same, "%s: a stream's states differ from the forward's", label);
    free(packed_ih), free(packed_hh), free(h), free(cs), free(xt), free(ws);
}

static void shapes_and_paths(void) {
    const int saved = lstmf_get_num_threads();
    for (int si = 0; si < N_FORWARD_SHAPES; si++)
        for (int ci = 0; ci < 4; ci++)
            for (int p = LSTMF_PREC_INT8; p <= LSTMF_PREC_BF16; p++) {
                const int reverse = (si + ci) & 1;
                rng_t rg = rng_seed(31000 + 100 * si + 10 * ci + p);
                tcase *c = shape_case(&rg, cells[ci], &forward_shapes[si], reverse,
                                      forward_shapes[si].flags & (CASE_H0 | CASE_C0 | CASE_LENGTHS));
                reduced_weights r = reduce(p, c);
                const int64_t n = out_elems(c);
                float *x = floats(c->x, c->s.B * c->s.T * c->s.D);
                float *h0 = c->h0 ? floats(c->h0, c->s.B * c->s.H) : NULL;
                float *c0 = c->c0 ? floats(c->c0, c->s.B * c->s.H) : NULL;
                char label[160];
                for (int isa = 0; isa < LSTMF_N_ISA; isa++) {
                    if (!use_isa(isa)) continue;
                    snprintf(label, sizeof label, "%s %s %s shape %d%s", lstmf_isa_name(isa),
                             p == LSTMF_PREC_INT8 ? "int8" : "bf16",
                             lstmf_cell_describe(cells[ci])->name, si, reverse ? " reverse" : "");
                    lstmf_set_num_threads(1);
                    float *base = run(c, p, &r, x, h0, c0);
                    against_reference(c, base, p, label);
                    stream_is_the_loop(c, p, &r, x, base, label);
                    packed_once(c, p, &r, x, h0, c0, base, label);
                    /* Threads and holds: the same bits. */
                    for (int threads = 2; threads <= 3; threads++)
                        for (int hold = -1; hold <= 2; hold++) {
                            if (threads == 3 && hold >= 0) continue;
                            lstmf_set_num_threads(threads);
                            lstmf_set_forced_hold(hold);
                            float *o = run(c, p, &r, x, h0, c0);
                            CHECK(memcmp(o, base, (size_t)n * sizeof(float)) == 0,
                                  "%s: %d threads, hold %d: not the 1-thread bits", label, threads,
                                  hold);
                            free(o);
                        }
                    lstmf_set_forced_hold(-1);
                    lstmf_set_num_threads(1);
                    /* Without dot products: int8 the same bits, bf16 close. */
                    if (lstmf_dot_supported()) {
                        CHECK(lstmf_dot_init(0) == LSTMF_OK, "%s: dot products off", label);
                        float *o = run(c, p, &r, x, h0, c0);
                        if (p == LSTMF_PREC_INT8)
                            CHECK(memcmp(o, base, (size_t)n * sizeof(float)) == 0,
                                  "%s: portable int8 sums not the dot products' bits", label);
                        else
                            against_reference(c, o, p, label);
                        free(o);
                        lstmf_dot_init(-1);
                    }
                    free(base);
                }
                free(x), free(h0), free(c0);
                reduced_free(&r);
                case_free(c);
            }
    lstmf_set_num_threads(saved);
}

static void refusals(void) {
    rng_t rg = rng_seed(32000);
    tcase *c = case_make(&rg, LSTMF_CELL_LSTM, 2, 3, 4, 5, 0, 0, 0);
    reduced_weights r = reduce(LSTMF_PREC_INT8, c);
    float *x = floats(c->x, 2 * 3 * 4), *y = calloc(64, sizeof(float));
    float *hn = calloc(16, sizeof(float)), *cn = calloc(16, sizeof(float));
    float *cache = calloc(4096, sizeof(float));
    int64_t index[64];
    lstmf_shape s = shape_of(c, LSTMF_PREC_INT8);
    lstmf_weights w = weights_of(&r, LSTMF_PREC_INT8);
    CHECK(lstmf_forward(&s, &w, x, NULL, NULL, NULL, y, hn, cn, cache, index) == LSTMF_EINVAL,
          "a training forward with int8 weights");
    lstmf_call_size size;
    CHECK(lstmf_call_bytes(&s, NULL, LSTMF_MODE_TRAINING, 1, 1, &size) == LSTMF_EINVAL,
          "the size of a reduced training call");
    CHECK(lstmf_call_bytes(&s, NULL, LSTMF_MODE_INFERENCE, 1, 1, &size) == LSTMF_OK,
          "the size of a reduced inference call");
    lstmf_grads g = {0};
    CHECK(lstmf_backward(&s, &w, cache, index, NULL, NULL, NULL, &g) == LSTMF_EINVAL,
          "a reduced backward");
    lstmf_weights no_scales = w;
    no_scales.w_scale_hh = NULL;
    CHECK(lstmf_forward(&s, &no_scales, x, NULL, NULL, NULL, y, hn, cn, NULL, NULL) == LSTMF_EINVAL,
          "int8 without scales");
    r.s_hh[3] = -1.0f;
    CHECK(lstmf_forward(&s, &w, x, NULL, NULL, NULL, y, hn, cn, NULL, NULL) == LSTMF_EINVAL,
          "a negative scale");
    r.s_hh[3] = NAN;
    CHECK(lstmf_forward(&s, &w, x, NULL, NULL, NULL, y, hn, cn, NULL, NULL) == LSTMF_EINVAL,
          "a NaN scale");
    CHECK(lstmf_stream_pack(&s, &w, cache, cache + 2048) == LSTMF_EINVAL, "packing a NaN scale");
    r.s_hh[3] = 0.5f;
    lstmf_shape f64 = s;
    f64.dtype = LSTMF_F64;
    CHECK(!lstmf_shape_ok(&f64), "float64 with int8 weights");
    lstmf_shape wide = s;
    wide.input_size = 65537;
    CHECK(!lstmf_shape_ok(&wide), "int8 sums past int32 (K > 2^16)");
    wide.precision = LSTMF_PREC_BF16;
    CHECK(lstmf_shape_ok(&wide), "bfloat16 takes any K");
    lstmf_shape unknown = s;
    unknown.precision = 3;
    CHECK(!lstmf_shape_ok(&unknown), "an unknown precision");
    const int lacking = ~lstmf_dot_supported() & (LSTMF_DOT_VNNI | LSTMF_DOT_BF16);
    if (lacking) CHECK(lstmf_dot_init(lacking) == LSTMF_EINVAL, "dot products the CPU lacks");
    CHECK(lstmf_dot_active() == lstmf_dot_supported(), "a refused request changes nothing");
    free(x), free(y), free(hn), free(cn), free(cache);
    reduced_free(&r);
    case_free(c);
}

void test_reduced(void) {
    refusals();
    shapes_and_paths();
}
