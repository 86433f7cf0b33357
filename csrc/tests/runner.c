#include "runner.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lstmf.h"

static double *dalloc(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }

static double *drandom(rng_t *r, int64_t n, double scale) {
    double *p = dalloc(n);
    for (int64_t i = 0; i < n; i++) p[i] = rng_uniform(r, -scale, scale);
    return p;
}

/* n values 0 (with probability 0.2) or 1.25. */
static double *dropout_mask(rng_t *r, int64_t n) {
    double *p = dalloc(n);
    for (int64_t i = 0; i < n; i++) p[i] = rng_uniform(r, 0, 1) < 0.2 ? 0 : 1.25;
    return p;
}

static int64_t live_len(const tcase *c, int64_t b) { return c->lengths ? c->lengths[b] : c->s.T; }

tcase *case_make(rng_t *r, int cell, int64_t B, int64_t T, int64_t D, int64_t H, int reverse,
                 int64_t y_ld, int flags) {
    tcase *c = calloc(1, sizeof *c);
    c->s = (ref_shape){cell, B, T, D, H, reverse};
    c->y_ld = y_ld;
    const int64_t GH = ref_gates(cell) * H;
    /* Weights of the size torch's default init gives (1/sqrt(H)), so the
     * gates are neither saturated nor linear. */
    const double ws = 1.0 / sqrt((double)H);
    c->w_ih = drandom(r, GH * D, ws);
    c->w_hh = drandom(r, GH * H, ws);
    c->b_ih = drandom(r, GH, ws);
    c->b_hh = drandom(r, GH, ws);
    if (flags & CASE_LENGTHS) {
        c->lengths = malloc(sizeof(int64_t) * (size_t)B);
        for (int64_t b = 0; b < B; b++) c->lengths[b] = rng_int(r, 1, T);
        c->lengths[B / 2] = T; /* the longest sample may be any one */
    }
    c->x = drandom(r, B * T * D, 1.0);
    if (flags & CASE_H0) c->h0 = drandom(r, B * H, 0.5);
    if (flags & CASE_C0 && cell == LSTMF_CELL_LSTM) c->c0 = drandom(r, B * H, 0.5);
    if (flags & CASE_DY) c->dy = drandom(r, B * T * H, 1.0);
    if (flags & CASE_DH_N) c->dh_n = drandom(r, B * H, 1.0);
    if (flags & CASE_DC_N && cell == LSTMF_CELL_LSTM) c->dc_n = drandom(r, B * H, 1.0);
    if (flags & CASE_X_MASK) c->x_mask = dropout_mask(r, B * D);
    if (flags & CASE_H_MASK) c->h_mask = dropout_mask(r, B * H);
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = live_len(c, b); t < T; t++) {
            for (int64_t k = 0; k < D; k++) c->x[(b * T + t) * D + k] = NAN;
            if (c->dy)
                for (int64_t j = 0; j < H; j++) c->dy[(b * T + t) * H + j] = NAN;
        }
    return c;
}

void case_free(tcase *c) {
    if (!c) return;
    free(c->w_ih); free(c->w_hh); free(c->b_ih); free(c->b_hh); free(c->x);
    free(c->h0); free(c->c0); free(c->lengths); free(c->dy); free(c->dh_n); free(c->dc_n);
    free(c->x_mask); free(c->h_mask);
    free(c);
}

int64_t case_params(const tcase *c) {
    const int64_t GH = ref_gates(c->s.cell) * c->s.H;
    return GH * (c->s.D + c->s.H + 2);
}

void fwd_out_alloc(const tcase *c, fwd_out *o) {
    o->y = dalloc(c->s.B * c->s.T * c->s.H);
    o->h_n = dalloc(c->s.B * c->s.H);
    o->c_n = dalloc(c->s.B * c->s.H);
}

void fwd_out_free(fwd_out *o) { free(o->y); free(o->h_n); free(o->c_n); }

void grad_out_alloc(const tcase *c, grad_out *g) {
    const int64_t GH = ref_gates(c->s.cell) * c->s.H, B = c->s.B, T = c->s.T, H = c->s.H;
    g->w_ih = dalloc(GH * c->s.D); g->w_hh = dalloc(GH * H);
    g->b_ih = dalloc(GH); g->b_hh = dalloc(GH);
    g->x = dalloc(B * T * c->s.D); g->h0 = dalloc(B * H); g->c0 = dalloc(B * H);
    g->h_seq = dalloc(B * T * H); g->c_seq = dalloc(B * T * H);
}

void grad_out_free(grad_out *g) {
    free(g->w_ih); free(g->w_hh); free(g->b_ih); free(g->b_hh); free(g->x);
    free(g->h0); free(g->c0); free(g->h_seq); free(g->c_seq);
}

void case_reference(const tcase *c, fwd_out *o, const ref_nudge *nudge) {
    const ref_masks masks = {c->x_mask, c->h_mask};
    ref_forward(&c->s, c->w_ih, c->w_hh, c->b_ih, c->b_hh, c->x, c->h0, c->c0, c->lengths,
                &masks, o->y, o->h_n, o->c_n, nudge);
}

double case_loss(const tcase *c, const ref_nudge *nudge) {
    fwd_out o;
    fwd_out_alloc(c, &o);
    case_reference(c, &o, nudge);
    const int64_t B = c->s.B, T = c->s.T, H = c->s.H;
    double loss = 0;
    for (int64_t b = 0; b < B; b++) {
        if (c->dy)
            for (int64_t t = 0; t < live_len(c, b); t++)
                for (int64_t j = 0; j < H; j++)
                    loss += c->dy[(b * T + t) * H + j] * o.y[(b * T + t) * H + j];
        for (int64_t j = 0; j < H; j++) {
            if (c->dh_n) loss += c->dh_n[b * H + j] * o.h_n[b * H + j];
            if (c->dc_n) loss += c->dc_n[b * H + j] * o.c_n[b * H + j];
        }
    }
    fwd_out_free(&o);
    return loss;
}

/* ---- dtype conversion into and out of guarded buffers ---- */

static int64_t esize(int dtype) { return dtype == LSTMF_F64 ? 8 : 4; }

static void *to_lib(const double *src, int64_t n, int dtype) {
    if (!src) return NULL;
    void *p = gbuf_alloc(n, esize(dtype));
    for (int64_t i = 0; i < n; i++) {
        if (dtype == LSTMF_F64) ((double *)p)[i] = src[i];
        else ((float *)p)[i] = (float)src[i];
    }
    return p;
}

static double lib_at(const void *p, int64_t i, int dtype) {
    return dtype == LSTMF_F64 ? ((const double *)p)[i] : ((const float *)p)[i];
}

static void from_lib(const void *p, int64_t n, int dtype, double *dst) {
    for (int64_t i = 0; i < n; i++) dst[i] = lib_at(p, i, dtype);
}

/* Every byte of element i still holds gbuf_alloc's fill pattern. */
static int untouched(const void *p, int64_t i, int dtype) {
    const unsigned char *b = (const unsigned char *)p + i * esize(dtype);
    for (int64_t k = 0; k < esize(dtype); k++)
        if (b[k] != 0x5A) return 0;
    return 1;
}

/* A (B, T, H) array laid out with row stride ld: NaN in the extra columns,
 * which the library must neither read nor write. */
static void *seq_to_lib(const double *src, int64_t rows, int64_t H, int64_t ld, int dtype) {
    if (!src) return NULL;
    double *wide = dalloc(rows * ld);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < ld; j++) wide[r * ld + j] = j < H ? src[r * H + j] : NAN;
    void *p = to_lib(wide, rows * ld, dtype);
    free(wide);
    return p;
}

#define CHECK_GUARD(p, name) CHECK(!(p) || gbuf_intact(p), "%s: write outside %s", label, name)

void lib_run(const tcase *c, int dtype, fwd_out *o, grad_out *g, const char *label) {
    const int64_t B = c->s.B, T = c->s.T, D = c->s.D, H = c->s.H;
    const int64_t GH = ref_gates(c->s.cell) * H, ld = c->y_ld ? c->y_ld : H;
    const int lstm = c->s.cell == LSTMF_CELL_LSTM;
    lstmf_shape s = {c->s.cell, dtype, B, T, D, H, c->y_ld, c->s.reverse, LSTMF_PREC_FULL};
    void *w_ih = to_lib(c->w_ih, GH * D, dtype), *w_hh = to_lib(c->w_hh, GH * H, dtype);
    void *b_ih = to_lib(c->b_ih, GH, dtype), *b_hh = to_lib(c->b_hh, GH, dtype);
    /* Masks are training's only (an inference forward refuses them). */
    void *x_mask = g ? to_lib(c->x_mask, B * D, dtype) : NULL;
    void *h_mask = g ? to_lib(c->h_mask, B * H, dtype) : NULL;
    lstmf_weights w = {w_ih, w_hh, b_ih, b_hh, x_mask, h_mask, NULL, NULL, NULL, NULL};
    void *x = to_lib(c->x, B * T * D, dtype);
    void *h0 = to_lib(c->h0, B * H, dtype), *c0 = to_lib(c->c0, B * H, dtype);
    int64_t *lengths = NULL;
    if (c->lengths) {
        lengths = gbuf_alloc(B, sizeof(int64_t));
        memcpy(lengths, c->lengths, sizeof(int64_t) * (size_t)B);
    }
    void *y = o->y ? gbuf_alloc(B * T * ld, esize(dtype)) : NULL;
    void *h_n = gbuf_alloc(B * H, esize(dtype));
    void *c_n = lstm ? gbuf_alloc(B * H, esize(dtype)) : NULL;
    void *cache = NULL;
    int64_t *index = NULL;
    if (g) {
        const int64_t rows = lstmf_packed_rows(&s, lengths);
        CHECK(rows >= 1 && rows <= B * T, "%s: packed rows %lld", label, (long long)rows);
        cache = gbuf_alloc(lstmf_cache_elems(&s, rows), esize(dtype));
        index = gbuf_alloc(lstmf_cache_index_elems(&s), sizeof(int64_t));
    }
    int st = lstmf_forward(&s, &w, x, h0, c0, lengths, y, h_n, c_n, cache, index);
    CHECK(st == LSTMF_OK, "%s: forward returned %d", label, st);
    CHECK_GUARD(y, "y"); CHECK_GUARD(h_n, "h_n"); CHECK_GUARD(c_n, "c_n");
    CHECK_GUARD(cache, "the cache"); CHECK_GUARD(index, "the cache index");
    CHECK_GUARD(x_mask, "x_mask"); CHECK_GUARD(h_mask, "h_mask");
    if (index) CHECK(lstmf_cache_index_valid(&s, index), "%s: forward's index is invalid", label);
    /* Columns past H of every y row are the other direction's: untouched. */
    int64_t touched = 0;
    for (int64_t r = 0; r < B * T && y; r++)
        for (int64_t j = H; j < ld; j++) touched += !untouched(y, r * ld + j, dtype);
    CHECK(touched == 0, "%s: forward wrote %lld elements past H in y rows", label, (long long)touched);
    for (int64_t r = 0; r < B * T && y; r++)
        for (int64_t j = 0; j < H; j++) o->y[r * H + j] = lib_at(y, r * ld + j, dtype);
    from_lib(h_n, B * H, dtype, o->h_n);
    if (lstm) from_lib(c_n, B * H, dtype, o->c_n);

    if (g) {
        void *dy = seq_to_lib(c->dy, B * T, H, ld, dtype);
        void *dh_n = to_lib(c->dh_n, B * H, dtype), *dc_n = to_lib(c->dc_n, B * H, dtype);
        lstmf_grads lg = {
            gbuf_alloc(GH * D, esize(dtype)), gbuf_alloc(GH * H, esize(dtype)),
            gbuf_alloc(GH, esize(dtype)), gbuf_alloc(GH, esize(dtype)),
            g->x ? gbuf_alloc(B * T * D, esize(dtype)) : NULL, gbuf_alloc(B * H, esize(dtype)),
            lstm ? gbuf_alloc(B * H, esize(dtype)) : NULL,
            gbuf_alloc(B * T * H, esize(dtype)), lstm ? gbuf_alloc(B * T * H, esize(dtype)) : NULL,
        };
        st = lstmf_backward(&s, &w, cache, index, dy, dh_n, dc_n, &lg);
        CHECK(st == LSTMF_OK, "%s: backward returned %d", label, st);
        CHECK_GUARD(cache, "the cache"); CHECK_GUARD(index, "the cache index");
        CHECK_GUARD(lg.w_ih, "dW_ih"); CHECK_GUARD(lg.w_hh, "dW_hh");
        CHECK_GUARD(lg.b_ih, "db_ih"); CHECK_GUARD(lg.b_hh, "db_hh");
        CHECK_GUARD(lg.x, "dx"); CHECK_GUARD(lg.h0, "dh0"); CHECK_GUARD(lg.c0, "dc0");
        CHECK_GUARD(lg.h_seq, "h_seq"); CHECK_GUARD(lg.c_seq, "c_seq");
        from_lib(lg.w_ih, GH * D, dtype, g->w_ih); from_lib(lg.w_hh, GH * H, dtype, g->w_hh);
        from_lib(lg.b_ih, GH, dtype, g->b_ih); from_lib(lg.b_hh, GH, dtype, g->b_hh);
        if (g->x) from_lib(lg.x, B * T * D, dtype, g->x);
        from_lib(lg.h0, B * H, dtype, g->h0);
        if (lstm) from_lib(lg.c0, B * H, dtype, g->c0);
        from_lib(lg.h_seq, B * T * H, dtype, g->h_seq);
        if (lstm) from_lib(lg.c_seq, B * T * H, dtype, g->c_seq);
        gbuf_free(dy); gbuf_free(dh_n); gbuf_free(dc_n);
        gbuf_free(lg.w_ih); gbuf_free(lg.w_hh); gbuf_free(lg.b_ih); gbuf_free(lg.b_hh);
        gbuf_free(lg.x); gbuf_free(lg.h0); gbuf_free(lg.c0); gbuf_free(lg.h_seq);
        gbuf_free(lg.c_seq);
    }
    gbuf_free(w_ih); gbuf_free(w_hh); gbuf_free(b_ih); gbuf_free(b_hh); gbuf_free(x);
    gbuf_free(h0); gbuf_free(c0); gbuf_free(lengths); gbuf_free(y); gbuf_free(h_n);
    gbuf_free(c_n); gbuf_free(cache); gbuf_free(index); gbuf_free(x_mask); gbuf_free(h_mask);
}

int use_isa(int isa) {
    static int noted[LSTMF_N_ISA];
    if (!lstmf_isa_compiled(isa) || !lstmf_isa_supported(isa)) {
        if (!noted[isa]++)
            fprintf(stderr, "note: ISA %s not %s here: skipped\n", lstmf_isa_name(isa),
                    lstmf_isa_compiled(isa) ? "supported" : "compiled");
        return 0;
    }
    const int st = lstmf_isa_init(lstmf_isa_name(isa));
    CHECK(st == LSTMF_OK && lstmf_isa_active() == isa, "could not select ISA %s",
          lstmf_isa_name(isa));
    return lstmf_isa_active() == isa;
}

void check_grads(const tcase *c, const grad_out *got, const grad_out *want, double tol,
                 const char *label) {
    const int64_t GH = ref_gates(c->s.cell) * c->s.H, B = c->s.B, T = c->s.T;
    const int64_t D = c->s.D, H = c->s.H;
    const int lstm = c->s.cell == LSTMF_CELL_LSTM;
    CHECK(close_enough(got->w_ih, want->w_ih, GH * D, tol, "dW_ih"), "%s", label);
    CHECK(close_enough(got->w_hh, want->w_hh, GH * H, tol, "dW_hh"), "%s", label);
    CHECK(close_enough(got->b_ih, want->b_ih, GH, tol, "db_ih"), "%s", label);
    CHECK(close_enough(got->b_hh, want->b_hh, GH, tol, "db_hh"), "%s", label);
    CHECK(close_enough(got->x, want->x, B * T * D, tol, "dx"), "%s", label);
    CHECK(close_enough(got->h0, want->h0, B * H, tol, "dh0"), "%s", label);
    if (lstm) CHECK(close_enough(got->c0, want->c0, B * H, tol, "dc0"), "%s", label);
    CHECK(close_enough(got->h_seq, want->h_seq, B * T * H, tol, "h_seq"), "%s", label);
    if (lstm) CHECK(close_enough(got->c_seq, want->c_seq, B * T * H, tol, "c_seq"), "%s", label);
}

int same_bits(const double *a, const double *b, int64_t n) {
    return memcmp(a, b, sizeof(double) * (size_t)n) == 0;
}

/* Every gradient of a and b bit for bit (dx only when both have it; the
 * cell-state ones only for the LSTM). */
int same_grads(const tcase *c, const grad_out *a, const grad_out *b) {
    const int64_t GH = ref_gates(c->s.cell) * c->s.H, B = c->s.B, T = c->s.T;
    const int64_t D = c->s.D, H = c->s.H;
    return same_bits(a->w_ih, b->w_ih, GH * D) && same_bits(a->w_hh, b->w_hh, GH * H) &&
           same_bits(a->b_ih, b->b_ih, GH) && same_bits(a->b_hh, b->b_hh, GH) &&
           (!a->x || !b->x || same_bits(a->x, b->x, B * T * D)) &&
           same_bits(a->h0, b->h0, B * H) && same_bits(a->h_seq, b->h_seq, B * T * H) &&
           (c->s.cell != LSTMF_CELL_LSTM ||
            (same_bits(a->c0, b->c0, B * H) && same_bits(a->c_seq, b->c_seq, B * T * H)));
}
