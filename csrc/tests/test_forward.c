/* Forward passes (inference and training) of every cell on every ISA and
 * dtype against the naive reference: outputs, final states, zeros at
 * padded steps, guards, columns past H untouched (runner.c). */
#include <stdio.h>

#include "lstmf.h"
#include "runner.h"
#include "shapes.h"
#include "tests.h"

static const int cells[] = {LSTMF_CELL_LSTM, LSTMF_CELL_GRU, LSTMF_CELL_RNN_TANH,
                            LSTMF_CELL_RNN_RELU};

static void compare(const tcase *c, const fwd_out *got, const fwd_out *want, double tol,
                    const char *label) {
    const int64_t B = c->s.B, T = c->s.T, H = c->s.H;
    CHECK(close_enough(got->y, want->y, B * T * H, tol, "y"), "%s: y", label);
    CHECK(close_enough(got->h_n, want->h_n, B * H, tol, "h_n"), "%s: h_n", label);
    if (c->s.cell == LSTMF_CELL_LSTM)
        CHECK(close_enough(got->c_n, want->c_n, B * H, tol, "c_n"), "%s: c_n", label);
    /* Padded steps: exactly zero, as the API documents. */
    int64_t nonzero = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = c->lengths ? c->lengths[b] : T; t < T; t++)
            for (int64_t j = 0; j < H; j++) nonzero += got->y[(b * T + t) * H + j] != 0;
    CHECK(nonzero == 0, "%s: %lld padded outputs are not zero", label, (long long)nonzero);
}

void test_forward(void) {
    for (int si = 0; si < N_FORWARD_SHAPES; si++) {
        const test_shape *sh = &forward_shapes[si];
        for (int ci = 0; ci < 4; ci++)
            for (int reverse = 0; reverse < 2; reverse++) {
                rng_t r = rng_seed(1000 * si + 10 * ci + reverse);
                tcase *c = shape_case(&r, cells[ci], sh, reverse, sh->flags);
                fwd_out want, got;
                fwd_out_alloc(c, &want);
                fwd_out_alloc(c, &got);
                case_reference(c, &want, NULL);
                for (int isa = 0; isa < LSTMF_N_ISA; isa++) {
                    if (!use_isa(isa)) continue;
                    for (int dtype = 0; dtype < 2; dtype++) {
                        char label[160];
                        snprintf(label, sizeof label, "forward %s cell %d %s %s reverse=%d",
                                 sh->why, cells[ci], lstmf_isa_name(isa),
                                 dtype ? "f64" : "f32", reverse);
                        const double tol = dtype == LSTMF_F64 ? 1e-10 : 2e-5;
                        lib_run(c, dtype, &got, NULL, label);
                        compare(c, &got, &want, tol, label);
                        /* Training mode computes the same outputs while
                         * filling the cache (backward is tested elsewhere). */
                        grad_out g;
                        grad_out_alloc(c, &g);
                        lib_run(c, dtype, &got, &g, label);
                        compare(c, &got, &want, tol, label);
                        grad_out_free(&g);
                    }
                }
                fwd_out_free(&want);
                fwd_out_free(&got);
                case_free(c);
            }
    }
}
