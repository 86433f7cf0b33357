/* Backward against finite differences of the reference forward (float64):
 * every weight, bias, input, initial state and the per-step state
 * gradients h_seq / c_seq, on every ISA; float32 against the same numbers
 * with a looser tolerance. Padded steps get zero gradients. A backward
 * asked for no dx, and a forward asked for no y, change no other result
 * by a bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lstmf.h"
#include "runner.h"
#include "shapes.h"
#include "tests.h"

static const int cells[] = {LSTMF_CELL_LSTM, LSTMF_CELL_GRU, LSTMF_CELL_RNN_TANH,
                            LSTMF_CELL_RNN_RELU};

/* Central difference of the loss in element i of p. */
static double fd(tcase *c, double *p, int64_t i) {
    const double eps = 1e-6, keep = p[i];
    p[i] = keep + eps;
    const double up = case_loss(c, NULL);
    p[i] = keep - eps;
    const double down = case_loss(c, NULL);
    p[i] = keep;
    return (up - down) / (2 * eps);
}

static void fd_array(tcase *c, double *p, int64_t n, double *out) {
    for (int64_t i = 0; i < n; i++) out[i] = p ? fd(c, p, i) : 0;
}

/* dLoss/dh_t (state 0) or dLoss/dc_t (state 1) of every live step. */
static void fd_states(tcase *c, int state, double *out) {
    const int64_t B = c->s.B, T = c->s.T, H = c->s.H;
    memset(out, 0, sizeof(double) * (size_t)(B * T * H));
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < (c->lengths ? c->lengths[b] : T); t++)
            for (int64_t j = 0; j < H; j++) {
                ref_nudge up = {b, t, j, state, 1e-6}, down = {b, t, j, state, -1e-6};
                out[(b * T + t) * H + j] = (case_loss(c, &up) - case_loss(c, &down)) / 2e-6;
            }
}

void fd_grads(tcase *c, grad_out *g) {
    const int64_t GH = ref_gates(c->s.cell) * c->s.H, B = c->s.B, T = c->s.T;
    const int64_t D = c->s.D, H = c->s.H;
    fd_array(c, c->w_ih, GH * D, g->w_ih);
    fd_array(c, c->w_hh, GH * H, g->w_hh);
    fd_array(c, c->b_ih, GH, g->b_ih);
    fd_array(c, c->b_hh, GH, g->b_hh);
    /* x: live steps only (padded x is NaN and has zero gradient). */
    memset(g->x, 0, sizeof(double) * (size_t)(B * T * D));
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < (c->lengths ? c->lengths[b] : T); t++)
            for (int64_t k = 0; k < D; k++) g->x[(b * T + t) * D + k] = fd(c, c->x, (b * T + t) * D + k);
    /* With zero initial states the gradient is the same: nudge a zero array. */
    double *h0 = c->h0, *c0 = c->c0;
    double *zeros_h = calloc((size_t)(B * H), sizeof(double));
    double *zeros_c = calloc((size_t)(B * H), sizeof(double));
    if (!c->h0) c->h0 = zeros_h;
    if (!c->c0 && c->s.cell == LSTMF_CELL_LSTM) c->c0 = zeros_c;
    fd_array(c, c->h0, B * H, g->h0);
    fd_array(c, c->c0, B * H, g->c0);
    c->h0 = h0;
    c->c0 = c0;
    free(zeros_h);
    free(zeros_c);
    fd_states(c, 0, g->h_seq);
    if (c->s.cell == LSTMF_CELL_LSTM) fd_states(c, 1, g->c_seq);
}

typedef struct {
    int64_t B, T, D, H, y_ld_extra;
    int flags;
} grad_shape;

/* Small enough for finite differences of every element. 9 and 17 pass the f64 and f32 vector widths. */
static const grad_shape shapes[] = {
    {1, 1, 2, 3, 0, CASE_ALL},
    {3, 4, 3, 5, 0, CASE_ALL},
    {2, 3, 2, 9, 2, CASE_DY | CASE_LENGTHS},                /* no dh_n, zero h0 */
    {4, 3, 2, 17, 0, CASE_DH_N | CASE_DC_N | CASE_LENGTHS}, /* no dy */
};

void test_backward(void) {
    for (int si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++)
        for (int ci = 0; ci < 4; ci++)
            for (int reverse = 0; reverse < 2; reverse++) {
                const grad_shape *sh = &shapes[si];
                rng_t r = rng_seed(7000 + 100 * si + 10 * ci + reverse);
                tcase *c = case_make(&r, cells[ci], sh->B, sh->T, sh->D, sh->H, reverse,
                                     sh->y_ld_extra ? sh->H + sh->y_ld_extra : 0, sh->flags);
                grad_out want, got;
                grad_out_alloc(c, &want);
                grad_out_alloc(c, &got);
                fd_grads(c, &want);
                fwd_out o;
                fwd_out_alloc(c, &o);
                for (int isa = 0; isa < LSTMF_N_ISA; isa++) {
                    if (!use_isa(isa)) continue;
                    for (int dtype = 0; dtype < 2; dtype++) {
                        char label[128];
                        snprintf(label, sizeof label, "backward shape %d cell %d %s %s reverse=%d",
                                 si, cells[ci], lstmf_isa_name(isa), dtype ? "f64" : "f32",
                                 reverse);
                        lib_run(c, dtype, &o, &got, label);
                        check_grads(c, &got, &want, dtype == LSTMF_F64 ? 1e-6 : 1e-3, label);
                    }
                }
                fwd_out_free(&o);
                grad_out_free(&want);
                grad_out_free(&got);
                case_free(c);
            }
}

/* Without y (a last layer whose final state is all that is read), on
 * every test shape: the final states, and the gradients of a backward from
 * that forward, are those with y, bit for bit. */
void test_forward_without_y(void) {
    for (int si = 0; si < N_FORWARD_SHAPES; si++)
        for (int ci = 0; ci < 4; ci++) {
            const test_shape *sh = &forward_shapes[si];
            rng_t r = rng_seed(9500 + 10 * si + ci);
            /* No dy: a forward without y has no output to differentiate. */
            tcase *c = shape_case(&r, cells[ci], sh, si & 1, CASE_ALL & ~CASE_DY);
            const int64_t B = c->s.B, H = c->s.H;
            const int lstm = c->s.cell == LSTMF_CELL_LSTM;
            fwd_out with, without;
            fwd_out_alloc(c, &with);
            fwd_out_alloc(c, &without);
            free(without.y);
            without.y = NULL;
            grad_out gw, gn;
            grad_out_alloc(c, &gw);
            grad_out_alloc(c, &gn);
            for (int isa = 0; isa < LSTMF_N_ISA; isa++) {
                if (!use_isa(isa)) continue;
                for (int dtype = 0; dtype < 2; dtype++) {
                    char label[160];
                    snprintf(label, sizeof label, "forward without y, %s, cell %d %s %s",
                             sh->why, cells[ci], lstmf_isa_name(isa), dtype ? "f64" : "f32");
                    for (int training = 0; training < 2; training++) {
                        lib_run(c, dtype, &with, training ? &gw : NULL, label);
                        lib_run(c, dtype, &without, training ? &gn : NULL, label);
                        CHECK(same_bits(with.h_n, without.h_n, B * H) &&
                                  (!lstm || same_bits(with.c_n, without.c_n, B * H)),
                              "%s, training=%d: final states differ", label, training);
                    }
                    CHECK(same_grads(c, &gw, &gn),
                          "%s: gradients differ from those after a forward with y", label);
                }
            }
            fwd_out_free(&with);
            fwd_out_free(&without);
            grad_out_free(&gw);
            grad_out_free(&gn);
            case_free(c);
        }
}

/* Without dx (a network's first layer), on every test shape (among them the
 * few-rows one whose threads split the backward's column panels): the
 * other gradients are those of a backward with dx, bit for bit. */
void test_backward_without_dx(void) {
    for (int si = 0; si < N_FORWARD_SHAPES; si++)
        for (int ci = 0; ci < 4; ci++) {
            const test_shape *sh = &forward_shapes[si];
            rng_t r = rng_seed(9000 + 10 * si + ci);
            tcase *c = shape_case(&r, cells[ci], sh, si & 1, CASE_ALL);
            grad_out with, without;
            grad_out_alloc(c, &with);
            grad_out_alloc(c, &without);
            free(without.x);
            without.x = NULL;
            fwd_out o;
            fwd_out_alloc(c, &o);
            for (int isa = 0; isa < LSTMF_N_ISA; isa++) {
                if (!use_isa(isa)) continue;
                for (int dtype = 0; dtype < 2; dtype++) {
                    char label[160];
                    snprintf(label, sizeof label, "backward without dx, %s, cell %d %s %s",
                             sh->why, cells[ci], lstmf_isa_name(isa), dtype ? "f64" : "f32");
                    lib_run(c, dtype, &o, &with, label);
                    lib_run(c, dtype, &o, &without, label);
                    CHECK(same_grads(c, &with, &without),
                          "%s: gradients differ from a backward with dx", label);
                }
            }
            fwd_out_free(&o);
            grad_out_free(&with);
            grad_out_free(&without);
            case_free(c);
        }
}
