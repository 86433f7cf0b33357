/* libFuzzer target for the C entry points (CONTRIBUTING.md, "Fuzzing").
 *
 * The input decides what to call and with what: the first byte picks a
 * mode, later bytes the cell, dtype, ISA, shape, lengths and values.
 *   0 inference forward    1 training forward + backward
 *   2 streaming steps      3 raw 64-bit shapes against the size queries
 *   4 inference with int8 or bfloat16 weights (and invalid precisions,
 *     scales, dtypes), with and without dot-product instructions
 * Modes 0-2 keep shapes small (so a run is fast and never hits libFuzzer's
 * allocation limit) but let every field be invalid; the target knows which
 * calls must succeed and which must return LSTMF_EINVAL, and checks:
 * outputs written only inside their guards, nothing written by a refused
 * call, zeros at padded steps, finite outputs for finite inputs, and the
 * chosen SIMD variant agreeing with the generic one. A failed check
 * aborts, which libFuzzer reports as a crash with the input that did it.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lstmf.h"

#define REQUIRE(cond)                                                               \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "fuzz check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* ---- reading the input (zeros once it runs out) ---- */
typedef struct {
    const uint8_t *p;
    size_t n;
} input;

static uint8_t byte(input *in) {
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static int64_t raw64(input *in) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | byte(in);
    return (int64_t)v;
}

/* A value in [-4, 4): finite, and large enough to saturate gates; 0 once
 * the input runs out. */
static double value(input *in) { return (int8_t)byte(in) / 32.0; }

/* ---- guarded buffers: 64 pattern bytes on both sides ---- */
#define GUARD 64
static void *galloc(int64_t bytes) {
    unsigned char *p = malloc((size_t)(bytes + 2 * GUARD));
    REQUIRE(p);
    memset(p, 0xA5, (size_t)(bytes + 2 * GUARD));
    return p + GUARD;
}
static int gintact(const void *q, int64_t bytes, int whole) {
    const unsigned char *p = (const unsigned char *)q - GUARD;
    const int64_t n = whole ? bytes + 2 * GUARD : GUARD;
    for (int64_t i = 0; i < n; i++)
        if (p[i] != 0xA5 || p[bytes + 2 * GUARD - 1 - i] != 0xA5) return 0;
    return 1;
}
static void gfree(void *q) {
    if (q) free((unsigned char *)q - GUARD);
}

static int64_t esize(int dtype) { return dtype == LSTMF_F64 ? 8 : 4; }
static double get(const void *p, int64_t i, int dtype) {
    return dtype == LSTMF_F64 ? ((const double *)p)[i] : ((const float *)p)[i];
}
static void *values(input *in, int64_t n, int dtype) {
    void *p = galloc(n * esize(dtype));
    for (int64_t i = 0; i < n; i++) {
        if (dtype == LSTMF_F64) ((double *)p)[i] = value(in);
        else ((float *)p)[i] = (float)value(in);
    }
    return p;
}

static int pick_isa(input *in) {
    int isa = byte(in) % LSTMF_N_ISA;
    if (!lstmf_isa_compiled(isa) || !lstmf_isa_supported(isa)) isa = LSTMF_ISA_GENERIC;
    REQUIRE(lstmf_isa_init(lstmf_isa_name(isa)) == LSTMF_OK);
    return isa;
}

/* Values agree within tol relative to the larger array's scale. */
static int agree(const void *a, const void *b, int64_t n, int dtype) {
    double scale = 1, diff = 0;
    for (int64_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(get(b, i, dtype)));
        diff = fmax(diff, fabs(get(a, i, dtype) - get(b, i, dtype)));
    }
    return diff <= (dtype == LSTMF_F64 ? 1e-8 : 1e-2) * scale;
}

/* ---- modes 0 and 1: sequences ---- */
typedef struct {
    lstmf_shape s;
    int64_t *lengths;
    int valid;
} seq_case;

static seq_case read_case(input *in) {
    seq_case c;
    memset(&c, 0, sizeof c);
    const uint8_t cell = byte(in), dtype = byte(in);
    c.s.cell = cell % 6 < 4 ? cell % 6 : (cell & 1 ? -1 : 4);
    c.s.dtype = dtype % 5 < 2 ? dtype % 5 : 2;
    c.s.batch = byte(in) % 10;     /* 0 is invalid */
    c.s.steps = byte(in) % 8;
    c.s.input_size = byte(in) % 12;
    c.s.hidden_size = byte(in) % 72; /* past every vector width and unit block */
    const uint8_t ld = byte(in);
    c.s.y_ld = ld < 200 ? 0 : ld < 250 ? c.s.hidden_size + ld % 4 : c.s.hidden_size - 1;
    c.s.reverse = byte(in) & 1;
    c.valid = c.s.cell >= 0 && c.s.cell < 4 && c.s.dtype < 2 && c.s.batch >= 1 &&
              c.s.steps >= 1 && c.s.input_size >= 1 && c.s.hidden_size >= 1 &&
              (c.s.y_ld == 0 || c.s.y_ld >= c.s.hidden_size);
    if (byte(in) & 1 && c.s.batch > 0) {
        c.lengths = galloc(c.s.batch * 8);
        for (int64_t b = 0; b < c.s.batch; b++) {
            c.lengths[b] = byte(in) % (c.s.steps + 2); /* 0 and T+1 are invalid */
            c.valid &= c.lengths[b] >= 1 && c.lengths[b] <= c.s.steps;
        }
    }
    return c;
}

typedef struct {
    void *w[4], *x, *h0, *c0, *dy, *dh_n, *dc_n;
    void *x_mask, *h_mask; /* dropout's, training only */
} seq_inputs;

typedef struct {
    void *y, *h_n, *c_n, *cache, *g[9];
    int64_t *index;
    int64_t n_y, n_state, n_cache, n_index, n_g[9];
} seq_outputs;

static void run_seq(const seq_case *c, const seq_inputs *in, int training, seq_outputs *o) {
    const lstmf_shape *s = &c->s;
    const int dt = s->dtype == LSTMF_F64 ? LSTMF_F64 : LSTMF_F32;
    const int64_t B = s->batch, T = s->steps, D = s->input_size, H = s->hidden_size;
    const int64_t G = lstmf_cell_gates(s->cell), ld = s->y_ld ? s->y_ld : H;
    const int lstm = s->cell == LSTMF_CELL_LSTM;
    memset(o, 0, sizeof *o);
    o->n_y = B * T * (ld > 0 ? ld : 0) * esize(dt);
    o->n_state = B * (H > 0 ? H : 0) * esize(dt);
    o->y = galloc(o->n_y);
    o->h_n = galloc(o->n_state);
    o->c_n = galloc(o->n_state);
    if (training) {
        const int64_t rows = lstmf_packed_rows(s, c->lengths);
        REQUIRE((rows > 0) == c->valid);
        o->n_cache = c->valid ? lstmf_cache_elems(s, rows) * esize(dt) : 64;
        o->n_index = c->valid ? lstmf_cache_index_elems(s) * 8 : 64;
        REQUIRE(o->n_cache > 0 && o->n_index > 0);
        o->cache = galloc(o->n_cache);
        o->index = galloc(o->n_index);
    }
    int st = lstmf_forward(s, &(lstmf_weights){in->w[0], in->w[1], in->w[2], in->w[3], in->x_mask, in->h_mask, NULL, NULL, NULL, NULL}, in->x,
                           in->h0, in->c0, c->lengths, o->y, o->h_n, lstm ? o->c_n : NULL,
                           o->cache, o->index);
    REQUIRE(st == (c->valid ? LSTMF_OK : LSTMF_EINVAL));
    /* Refused: nothing written at all. Accepted: nothing outside. */
    REQUIRE(gintact(o->y, o->n_y, !c->valid) && gintact(o->h_n, o->n_state, !c->valid) &&
            gintact(o->c_n, o->n_state, !c->valid || !lstm));
    if (!c->valid) return;
    REQUIRE(!training || (gintact(o->cache, o->n_cache, 0) && gintact(o->index, o->n_index, 0)));
    REQUIRE(!training || lstmf_cache_index_valid(s, o->index));
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t j = 0; j < H; j++) {
                const double v = get(o->y, (b * T + t) * ld + j, dt);
                REQUIRE(isfinite(v));
                if (c->lengths && t >= c->lengths[b]) REQUIRE(v == 0);
            }
    if (!training) return;
    const int64_t n[9] = {G * H * D, G * H * H, G * H, G * H, B * T * D, B * H, B * H,
                          B * T * H, B * T * H};
    for (int i = 0; i < 9; i++) {
        o->n_g[i] = n[i] * esize(dt);
        o->g[i] = (i == 6 || i == 8) && !lstm ? NULL : galloc(o->n_g[i]);
    }
    lstmf_grads g = {o->g[0], o->g[1], o->g[2], o->g[3], o->g[4], o->g[5], o->g[6], o->g[7],
                     o->g[8]};
    st = lstmf_backward(s, &(lstmf_weights){in->w[0], in->w[1], in->w[2], in->w[3], in->x_mask, in->h_mask, NULL, NULL, NULL, NULL}, o->cache,
                        o->index, in->dy, in->dh_n, in->dc_n, &g);
    REQUIRE(st == LSTMF_OK);
    REQUIRE(gintact(o->cache, o->n_cache, 0) && gintact(o->index, o->n_index, 0));
    /* A ReLU RNN's gradients can legitimately pass float32's range
     * (nothing bounds its states), so only the bounded cells are checked
     * for finite gradients there. */
    const int bounded = s->cell != LSTMF_CELL_RNN_RELU || dt == LSTMF_F64;
    for (int i = 0; i < 9; i++) {
        if (!o->g[i]) continue;
        REQUIRE(gintact(o->g[i], o->n_g[i], 0));
        for (int64_t k = 0; bounded && k < n[i]; k++) REQUIRE(isfinite(get(o->g[i], k, dt)));
    }
}

static void free_outputs(seq_outputs *o) {
    gfree(o->y); gfree(o->h_n); gfree(o->c_n); gfree(o->cache); gfree(o->index);
    for (int i = 0; i < 9; i++) gfree(o->g[i]);
}

static void fuzz_sequences(input *in, int training) {
    const int isa = pick_isa(in);
    seq_case c = read_case(in);
    const lstmf_shape *s = &c.s;
    const int dt = s->dtype == LSTMF_F64 ? LSTMF_F64 : LSTMF_F32;
    const int64_t B = s->batch, T = s->steps, D = s->input_size, H = s->hidden_size;
    const int64_t GH = lstmf_cell_gates(s->cell) * H, ld = s->y_ld ? s->y_ld : H;
    seq_inputs v;
    memset(&v, 0, sizeof v);
    v.w[0] = values(in, GH * D, dt);
    v.w[1] = values(in, GH * H, dt);
    v.w[2] = values(in, GH, dt);
    v.w[3] = values(in, GH, dt);
    v.x = values(in, B * T * D, dt);
    const uint8_t opt = byte(in);
    if (opt & 1) v.h0 = values(in, B * H, dt);
    if (opt & 2) v.c0 = values(in, B * H, dt);
    if (opt & 4) v.dy = values(in, B * T * (ld > 0 ? ld : 0), dt);
    if (opt & 8) v.dh_n = values(in, B * H, dt);
    if (opt & 16) v.dc_n = values(in, B * H, dt);
    if (training && opt & 32) v.x_mask = values(in, B * D, dt);
    if (training && opt & 64) v.h_mask = values(in, B * H, dt);
    seq_outputs o, o0;
    run_seq(&c, &v, training, &o);
    if (c.valid && isa != LSTMF_ISA_GENERIC) {
        /* Differential: the generic variant computes the same numbers. */
        REQUIRE(lstmf_isa_init("generic") == LSTMF_OK);
        run_seq(&c, &v, training, &o0);
        for (int64_t r = 0; r < B * T; r++)
            REQUIRE(agree((char *)o.y + r * ld * esize(dt), (char *)o0.y + r * ld * esize(dt), H,
                          dt));
        REQUIRE(agree(o.h_n, o0.h_n, B * H, dt));
        for (int i = 0; training && i < 9; i++)
            if (o.g[i]) REQUIRE(agree(o.g[i], o0.g[i], o.n_g[i] / esize(dt), dt));
        free_outputs(&o0);
    }
    free_outputs(&o);
    for (int i = 0; i < 4; i++) gfree(v.w[i]);
    gfree(v.x); gfree(v.h0); gfree(v.c0); gfree(v.dy); gfree(v.dh_n); gfree(v.dc_n);
    gfree(v.x_mask); gfree(v.h_mask); gfree(c.lengths);
}

/* ---- mode 4: reduced-precision inference ---- */
static void *reduced_forward(const seq_case *c, const lstmf_weights *w, const void *x,
                             int64_t n_y, int64_t n_state, int valid) {
    const lstmf_shape *s = &c->s;
    void *out = galloc(n_y + 2 * n_state);
    const int st = lstmf_forward(s, w, x, NULL, NULL, c->lengths, out, (char *)out + n_y,
                                 s->cell == LSTMF_CELL_LSTM ? (char *)out + n_y + n_state : NULL,
                                 NULL, NULL);
    REQUIRE(st == (valid ? LSTMF_OK : LSTMF_EINVAL));
    REQUIRE(gintact(out, n_y + 2 * n_state, !valid));
    return out;
}

static void fuzz_reduced(input *in) {
    pick_isa(in);
    seq_case c = read_case(in);
    lstmf_shape *s = &c.s;
    const uint8_t p = byte(in);
    /* int8, bfloat16, or 3, no precision (mode 0 runs float weights). */
    s->precision = p % 4 == 3 ? 3 : p % 2 ? LSTMF_PREC_INT8 : LSTMF_PREC_BF16;
    const int int8 = s->precision == LSTMF_PREC_INT8;
    const int64_t B = s->batch, T = s->steps, D = s->input_size, H = s->hidden_size;
    const int64_t GH = lstmf_cell_gates(s->cell) * H, ld = s->y_ld ? s->y_ld : H;
    /* Weights: int8 from the input bytes, or bfloat16 bits of values. */
    void *w[2];
    const int64_t k[2] = {D, H};
    for (int i = 0; i < 2; i++) {
        const int64_t n = GH * k[i] > 0 ? GH * k[i] : 0;
        w[i] = galloc(2 * n);
        for (int64_t j = 0; j < n; j++) {
            if (int8) ((int8_t *)w[i])[j] = (int8_t)byte(in);
            else {
                float f = (float)value(in);
                uint32_t u;
                memcpy(&u, &f, 4);
                ((uint16_t *)w[i])[j] = (uint16_t)(u >> 16);
            }
        }
    }
    float *scale[2] = {NULL, NULL};
    int scales_ok = 1;
    for (int i = 0; i < 2 && int8 && GH > 0; i++) {
        scale[i] = galloc(GH * 4);
        for (int64_t j = 0; j < GH; j++) {
            const uint8_t b = byte(in);
            scale[i][j] = b == 255 ? -1.0f : b == 254 ? NAN : b / 4096.0f;
            scales_ok &= b < 254;
        }
    }
    void *b_ih = values(in, GH, LSTMF_F32), *b_hh = values(in, GH, LSTMF_F32);
    void *x = values(in, B * T * D, LSTMF_F32);
    const lstmf_weights lw = {w[0], w[1], b_ih, b_hh, NULL, NULL, scale[0], scale[1], NULL, NULL};
    const int valid = c.valid && s->precision <= LSTMF_PREC_BF16 && s->dtype == LSTMF_F32 &&
                      (!int8 || scales_ok);
    const int64_t n_y = B * T * (ld > 0 ? ld : 0) * 4, n_state = B * (H > 0 ? H : 0) * 4;
    void *out = reduced_forward(&c, &lw, x, n_y, n_state, valid);
    if (valid) {
        for (int64_t i = 0; i < B * T * ld; i++) {
            const int64_t b = i / (T * ld), t = i / ld % T;
            if (i % ld >= H) continue;
            const float v = ((const float *)out)[i];
            REQUIRE(isfinite(v) || s->cell == LSTMF_CELL_RNN_RELU);
            if (c.lengths && t >= c.lengths[b]) REQUIRE(v == 0);
        }
        /* Without dot products: int8 the same bits, bfloat16 close. */
        if (lstmf_dot_supported()) {
            REQUIRE(lstmf_dot_init(0) == LSTMF_OK);
            void *plain = reduced_forward(&c, &lw, x, n_y, n_state, 1);
            lstmf_dot_init(-1);
            if (int8) REQUIRE(memcmp(plain, out, (size_t)(n_y + 2 * n_state)) == 0);
            else REQUIRE(s->cell == LSTMF_CELL_RNN_RELU || agree(plain, out, n_y / 4, LSTMF_F32));
            gfree(plain);
        }
    }
    gfree(out); gfree(w[0]); gfree(w[1]); gfree(scale[0]); gfree(scale[1]);
    gfree(b_ih); gfree(b_hh); gfree(x); gfree(c.lengths);
}

/* ---- mode 2: streams ---- */
static void fuzz_stream(input *in) {
    pick_isa(in);
    const int dt = byte(in) & 1;
    const int L = 1 + byte(in) % 3;
    const int64_t k = 1 + byte(in) % 8, n_out = byte(in) % 4;
    lstmf_stream_layer layers[3];
    void *bufs[3][8];
    memset(bufs, 0, sizeof bufs);
    int64_t D = 1 + byte(in) % 10;
    const int64_t D0 = D;
    for (int l = 0; l < L; l++) {
        const int cell = byte(in) % 4;
        const int64_t H = 1 + byte(in) % 70, GH = lstmf_cell_gates(cell) * H;
        lstmf_stream_layer *ly = &layers[l];
        ly->shape = (lstmf_shape){cell, dt, k, 1, D, H, 0, 0, 0};
        void **b = bufs[l];
        for (int i = 0; i < 4; i++) b[i] = values(in, i == 0 ? GH * D : i == 1 ? GH * H : GH, dt);
        ly->w = (lstmf_weights){b[0], b[1], b[2], b[3], NULL, NULL, NULL, NULL, NULL, NULL};
        const int64_t n_ih = lstmf_stream_packed_elems(&ly->shape, 0);
        const int64_t n_hh = lstmf_stream_packed_elems(&ly->shape, 1);
        REQUIRE(n_ih > 0 && n_hh > 0);
        b[4] = galloc(n_ih * esize(dt));
        b[5] = galloc(n_hh * esize(dt));
        REQUIRE(lstmf_stream_pack(&ly->shape, &ly->w, b[4], b[5]) == LSTMF_OK);
        REQUIRE(gintact(b[4], n_ih * esize(dt), 0) && gintact(b[5], n_hh * esize(dt), 0));
        ly->packed_ih = b[4];
        ly->packed_hh = b[5];
        b[6] = galloc(2 * k * H * esize(dt));
        memset(b[6], 0, (size_t)(2 * k * H * esize(dt)));
        ly->h[0] = b[6];
        ly->h[1] = (char *)b[6] + k * H * esize(dt);
        b[7] = cell == LSTMF_CELL_LSTM ? galloc(k * H * esize(dt)) : NULL;
        if (b[7]) memset(b[7], 0, (size_t)(k * H * esize(dt)));
        ly->c = b[7];
        D = H;
    }
    void *coef = values(in, D * n_out, dt), *intercept = values(in, n_out, dt);
    void *out = galloc(k * n_out * esize(dt));
    const int64_t ws_bytes = lstmf_stream_workspace_bytes(L, layers);
    REQUIRE(ws_bytes > 0);
    void *ws = galloc(ws_bytes);
    const int steps = 1 + byte(in) % 4;
    int cur = 0;
    for (int t = 0; t < steps; t++) {
        void *x = values(in, k * D0, dt);
        const int nan = byte(in) == 255;
        if (nan) {
            if (dt == LSTMF_F64) ((double *)x)[k * D0 - 1] = NAN;
            else ((float *)x)[k * D0 - 1] = NAN;
        }
        const int st = lstmf_stream_step(L, layers, cur, x, coef, intercept, n_out, out, ws);
        REQUIRE(st == (nan ? LSTMF_ENONFINITE : LSTMF_OK));
        REQUIRE(gintact(out, k * n_out * esize(dt), 0) && gintact(ws, ws_bytes, 0));
        for (int l = 0; l < L; l++) {
            const int64_t H = layers[l].shape.hidden_size;
            REQUIRE(gintact(bufs[l][6], 2 * k * H * esize(dt), 0));
            for (int64_t i = 0; !nan && i < k * H; i++)
                REQUIRE(isfinite(get(layers[l].h[1 - cur], i, dt)));
        }
        if (!nan) cur = 1 - cur;
        gfree(x);
    }
    for (int l = 0; l < L; l++)
        for (int i = 0; i < 8; i++) gfree(bufs[l][i]);
    gfree(coef); gfree(intercept); gfree(out); gfree(ws);
}

/* ---- mode 3: any 64-bit shape against the size queries ---- */
typedef __int128 i128;

/* A non-NULL pointer the size queries never dereference. */
static void *x_dummy(void) {
    static double d;
    return &d;
}

static void fuzz_sizes(input *in) {
    lstmf_shape s = {byte(in) % 4, byte(in) & 1, raw64(in), raw64(in), raw64(in), raw64(in), 0, 0, 0};
    if (byte(in) & 1) s.y_ld = raw64(in);
    const i128 B = s.batch, T = s.steps, D = s.input_size, H = s.hidden_size;
    const i128 G = lstmf_cell_gates(s.cell), Y = s.y_ld ? s.y_ld : s.hidden_size;
    const int positive = B >= 1 && T >= 1 && D >= 1 && H >= 1 && Y >= H;
    /* Arrays the caller must pass: a shape whose x, y or W_hh alone would
     * pass 2^62 bytes cannot be valid. Each product is tested only once its
     * factors are known to keep it within 128 bits (B*T <= 2^62 and D, Y <
     * 2^63 bound B*T*D by 2^125; H <= 2^62 bounds G*H*H by 2^126). */
    const i128 limit = (i128)1 << 62;
    const int absurd = positive && (B * T > limit || B * T * D > limit / 8 ||
                                    B * T * Y > limit / 8 || H > limit ||
                                    G * H * H > limit / 8);
    const int64_t rows = lstmf_packed_rows(&s, NULL);
    if (!positive || absurd) REQUIRE(rows == LSTMF_EINVAL);
    if (rows < 0) {
        REQUIRE(lstmf_cache_elems(&s, 1) < 0 && lstmf_cache_index_elems(&s) < 0);
        REQUIRE(lstmf_stream_packed_elems(&s, 0) < 0 && lstmf_stream_packed_elems(&s, 1) < 0);
        /* Refused before any allocation or access: tiny stand-ins are safe. */
        double w[4][2] = {{0}}, x[2] = {0}, y[2], h[2], c[2], cache[2];
        int64_t index[2];
        REQUIRE(lstmf_forward(&s, &(lstmf_weights){w[0], w[1], w[2], w[3], NULL, NULL, NULL, NULL, NULL, NULL}, x, NULL, NULL, NULL,
                              y, h, c, cache, index) == LSTMF_EINVAL);
        return;
    }
    /* Accepted: every count is the exact one, never a wrapped one. */
    REQUIRE(rows == B * T);
    const int64_t cache = lstmf_cache_elems(&s, rows);
    REQUIRE(cache > 0 && (i128)cache >= B * T * (D + H + G * H));
    REQUIRE(lstmf_cache_index_elems(&s) == 2 * B + 2 * T + 1);
    const int64_t p_ih = lstmf_stream_packed_elems(&s, 0), p_hh = lstmf_stream_packed_elems(&s, 1);
    REQUIRE(p_ih > 0 && (i128)p_ih >= G * H * D && p_hh > 0 && (i128)p_hh >= G * H * H);
    if (s.steps == 1) {
        lstmf_stream_layer layer = {s, {x_dummy(), x_dummy(), x_dummy(), x_dummy()},
                                    x_dummy(), x_dummy(), {x_dummy(), x_dummy()}, x_dummy()};
        const int64_t ws = lstmf_stream_workspace_bytes(1, &layer);
        REQUIRE(ws > 0 && (i128)ws >= B * 8);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    input in = {data, size};
    switch (byte(&in) % 5) {
        case 0: fuzz_sequences(&in, 0); break;
        case 1: fuzz_sequences(&in, 1); break;
        case 2: fuzz_stream(&in); break;
        case 3: fuzz_sizes(&in); break;
        default: fuzz_reduced(&in); break;
    }
    return 0;
}
