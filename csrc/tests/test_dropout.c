/* Variational dropout (lstmf.h's x_mask, h_mask): per-sample masks on the
 * inputs of W_ih and W_hh, held for every step. Every cell, both
 * directions, every ISA and dtype:
 * - the training forward against the reference with the same masks, and
 *   its gradients against finite differences of it (float64; float32 with
 *   a looser tolerance), on shapes small enough for those;
 * - on every test shape (threads splitting rows or columns among them):
 *   the forward against the reference, and outputs and gradients the same
 *   bits on 1, 2 and 3 threads, and on 2 with column splits or threads on
 *   hold (thread_split.h);
 * - an inference forward and a stream refuse masks. */
#include <stdio.h>
#include <stdlib.h>

#include "lstmf.h"
#include "internal.h"
#include "runner.h"
#include "shapes.h"
#include "tests.h"

static const int cells[] = {LSTMF_CELL_LSTM, LSTMF_CELL_GRU, LSTMF_CELL_RNN_TANH,
                            LSTMF_CELL_RNN_RELU};
static const int mask_sets[] = {CASE_X_MASK, CASE_H_MASK, CASE_X_MASK | CASE_H_MASK};

static void compare_forward(const tcase *c, const fwd_out *got, const fwd_out *want,
                            double tol, const char *label) {
    const int64_t B = c->s.B, T = c->s.T, H = c->s.H;
    CHECK(close_enough(got->y, want->y, B * T * H, tol, "y"), "%s: y", label);
    CHECK(close_enough(got->h_n, want->h_n, B * H, tol, "h_n"), "%s: h_n", label);
    if (c->s.cell == LSTMF_CELL_LSTM)
        CHECK(close_enough(got->c_n, want->c_n, B * H, tol, "c_n"), "%s: c_n", label);
}

static void gradients_against_differences(void) {
    /* {B, T, D, H, flags}: 9 and 17 pass the f64 and f32 vector widths. */
    static const int64_t shapes[][5] = {
        {1, 1, 2, 3, CASE_ALL},
        {3, 4, 3, 5, CASE_ALL},
        {4, 3, 2, 17, CASE_DY | CASE_DH_N | CASE_DC_N | CASE_LENGTHS | CASE_H0},
        {2, 3, 9, 9, CASE_DY | CASE_LENGTHS},
    };
    for (int si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++)
        for (int ci = 0; ci < 4; ci++)
            for (int mi = 0; mi < 3; mi++) {
                const int reverse = (si + mi) & 1;
                rng_t r = rng_seed(12000 + 100 * si + 10 * ci + mi);
                const int64_t *sh = shapes[si];
                tcase *c = case_make(&r, cells[ci], sh[0], sh[1], sh[2], sh[3], reverse, 0,
                                     (int)sh[4] | mask_sets[mi]);
                grad_out want, got;
                grad_out_alloc(c, &want);
                grad_out_alloc(c, &got);
                fd_grads(c, &want);
                fwd_out ref, o;
                fwd_out_alloc(c, &ref);
                fwd_out_alloc(c, &o);
                case_reference(c, &ref, NULL);
                for (int isa = 0; isa < LSTMF_N_ISA; isa++) {
                    if (!use_isa(isa)) continue;
                    for (int dtype = 0; dtype < 2; dtype++) {
                        char label[128];
                        snprintf(label, sizeof label,
                                 "dropout gradients shape %d cell %d masks %d %s %s reverse=%d",
                                 si, cells[ci], mask_sets[mi], lstmf_isa_name(isa),
                                 dtype ? "f64" : "f32", reverse);
                        lib_run(c, dtype, &o, &got, label);
                        compare_forward(c, &o, &ref, dtype == LSTMF_F64 ? 1e-10 : 2e-5, label);
                        check_grads(c, &got, &want, dtype == LSTMF_F64 ? 1e-6 : 1e-3, label);
                    }
                }
                fwd_out_free(&ref);
                fwd_out_free(&o);
                grad_out_free(&want);
                grad_out_free(&got);
                case_free(c);
            }
}

static void every_shape_and_thread_count(void) {
    const int saved = lstmf_get_num_threads();
    for (int si = 0; si < N_FORWARD_SHAPES; si++)
        for (int ci = 0; ci < 4; ci++) {
            const test_shape *sh = &forward_shapes[si];
            rng_t r = rng_seed(13000 + 10 * si + ci);
            tcase *c = shape_case(&r, cells[ci], sh, si & 1,
                                  sh->flags | CASE_DY | CASE_DH_N | CASE_X_MASK | CASE_H_MASK);
            fwd_out ref, o1, o;
            fwd_out_alloc(c, &ref);
            fwd_out_alloc(c, &o1);
            fwd_out_alloc(c, &o);
            case_reference(c, &ref, NULL);
            grad_out g1, g;
            grad_out_alloc(c, &g1);
            grad_out_alloc(c, &g);
            const int64_t B = c->s.B, T = c->s.T, H = c->s.H;
            for (int isa = 0; isa < LSTMF_N_ISA; isa++) {
                if (!use_isa(isa)) continue;
                for (int dtype = 0; dtype < 2; dtype++)
                    for (int run = 0; run < 5; run++) {
                        /* 1, 2, 3 threads; 2 with column splits and then
                         * all threads on hold (thread_split.h). */
                        const int threads = run < 3 ? run + 1 : 2, hold = run < 3 ? -1 : run - 2;
                        char label[192];
                        snprintf(label, sizeof label,
                                 "dropout, %s, cell %d %s %s, %d threads, hold %d", sh->why,
                                 cells[ci], lstmf_isa_name(isa), dtype ? "f64" : "f32", threads,
                                 hold);
                        lstmf_set_num_threads(threads);
                        lstmf_set_forced_hold(hold);
                        lib_run(c, dtype, threads == 1 ? &o1 : &o, threads == 1 ? &g1 : &g,
                                label);
                        if (threads == 1) {
                            compare_forward(c, &o1, &ref, dtype == LSTMF_F64 ? 1e-10 : 2e-5,
                                            label);
                            continue;
                        }
                        CHECK(same_bits(o.y, o1.y, B * T * H) && same_bits(o.h_n, o1.h_n, B * H),
                              "%s: outputs differ from one thread's", label);
                        CHECK(same_grads(c, &g, &g1), "%s: gradients differ from one thread's",
                              label);
                    }
            }
            lstmf_set_num_threads(saved);
            lstmf_set_forced_hold(-1);
            fwd_out_free(&ref);
            fwd_out_free(&o1);
            fwd_out_free(&o);
            grad_out_free(&g1);
            grad_out_free(&g);
            case_free(c);
        }
}

static void masks_refused_outside_training(void) {
    const int64_t B = 2, T = 3, D = 2, H = 4, GH = 4 * H;
    float *buf = calloc((size_t)(2 * GH * (D + H + 1) + B * T * (D + H) + 4 * B * H), sizeof(float));
    float *w_ih = buf, *w_hh = w_ih + GH * D, *b_ih = w_hh + GH * H, *b_hh = b_ih + GH;
    float *x = b_hh + GH, *y = x + B * T * D, *h_n = y + B * T * H, *c_n = h_n + B * H;
    float *mask = c_n + B * H;
    lstmf_shape s = {LSTMF_CELL_LSTM, LSTMF_F32, B, T, D, H, 0, 0, 0};
    lstmf_weights w = {w_ih, w_hh, b_ih, b_hh, mask, NULL, NULL, NULL, NULL, NULL};
    CHECK(lstmf_forward(&s, &w, x, NULL, NULL, NULL, y, h_n, c_n, NULL, NULL) == LSTMF_EINVAL,
          "an inference forward took an input mask");
    w.x_mask = NULL;
    w.h_mask = mask;
    CHECK(lstmf_forward(&s, &w, x, NULL, NULL, NULL, y, h_n, c_n, NULL, NULL) == LSTMF_EINVAL,
          "an inference forward took a recurrent mask");
    lstmf_shape one = s;
    one.steps = 1;
    CHECK(lstmf_stream_pack(&one, &w, y, y) == LSTMF_EINVAL, "stream packing took a mask");
    free(buf);
}

void test_dropout(void) {
    gradients_against_differences();
    every_shape_and_thread_count();
    masks_refused_outside_training();
}
