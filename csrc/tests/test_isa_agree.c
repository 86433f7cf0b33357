/* Shapes too large for finite differences: every SIMD variant's forward and
 * backward against the generic variant's, in both dtypes (the generic
 * variant itself is checked against the reference and finite differences
 * in test_forward.c and test_backward.c). */
#include <stdio.h>

#include "lstmf.h"
#include "runner.h"
#include "tests.h"

static void compare(const tcase *c, const fwd_out *o, const grad_out *g, const fwd_out *o0,
                    const grad_out *g0, double tol, const char *label) {
    const int64_t B = c->s.B, T = c->s.T, H = c->s.H;
    CHECK(close_enough(o->y, o0->y, B * T * H, tol, "y"), "%s", label);
    CHECK(close_enough(o->h_n, o0->h_n, B * H, tol, "h_n"), "%s", label);
    CHECK(close_enough(o->c_n, o0->c_n, B * H, tol, "c_n"), "%s", label);
    check_grads(c, g, g0, tol, label);
}

void test_isa_agree(void) {
    const int cells[] = {LSTMF_CELL_LSTM, LSTMF_CELL_GRU, LSTMF_CELL_RNN_TANH,
                         LSTMF_CELL_RNN_RELU};
    /* B past two micro-panels per thread, 4H (the backward's K) past KC,
     * H odd. */
    const int64_t B = 19, T = 11, D = 37, H = 131;
    for (int ci = 0; ci < 4; ci++)
        for (int reverse = 0; reverse < 2; reverse++) {
            rng_t r = rng_seed(9000 + 10 * ci + reverse);
            tcase *c = case_make(&r, cells[ci], B, T, D, H, reverse, reverse ? 2 * H : 0,
                                 CASE_ALL);
            for (int dtype = 0; dtype < 2; dtype++) {
                fwd_out o0, o;
                grad_out g0, g;
                fwd_out_alloc(c, &o0); fwd_out_alloc(c, &o);
                grad_out_alloc(c, &g0); grad_out_alloc(c, &g);
                use_isa(LSTMF_ISA_GENERIC);
                lib_run(c, dtype, &o0, &g0, "generic");
                for (int isa = 1; isa < LSTMF_N_ISA; isa++) {
                    if (!use_isa(isa)) continue;
                    char label[96];
                    snprintf(label, sizeof label, "cell %d %s vs generic, %s, reverse=%d",
                             cells[ci], lstmf_isa_name(isa), dtype ? "f64" : "f32", reverse);
                    lib_run(c, dtype, &o, &g, label);
                    compare(c, &o, &g, &o0, &g0, dtype == LSTMF_F64 ? 1e-10 : 1e-4, label);
                }
                fwd_out_free(&o0); fwd_out_free(&o);
                grad_out_free(&g0); grad_out_free(&g);
            }
            case_free(c);
        }
}
