/* A batch of one reads the weights in passes as wide as L1 allows
 * (step.h: row_panels): with the L1 size forced from none to ample, so that
 * every pass width of every variant runs, the outputs, final states and
 * every gradient are those of the widest passes, bit for bit. */
#include <stdio.h>

#include "lstmf.h"
#include "internal.h"
#include "runner.h"
#include "tests.h"

void test_row_passes(void) {
    const int cells[] = {LSTMF_CELL_LSTM, LSTMF_CELL_GRU, LSTMF_CELL_RNN_TANH};
    /* (D, H): the stream shape (68-deep panels: one fits 32 KB of L1, a
     * pair does not), H odd, and D past KC (the input projection apart). */
    const int64_t dims[][2] = {{4, 64}, {3, 45}, {520, 20}};
    /* Against 0 (unknown: the widest passes), sizes that take each
     * variant's passes from one panel up to GEMM_ROW_PANELS. */
    const int64_t l1d[] = {4096, 8192, 16384, 24576, 32768, 49152, 65536, 1 << 20};
    for (int ci = 0; ci < 3; ci++)
        for (int di = 0; di < 3; di++) {
            rng_t r = rng_seed(9700 + 10 * ci + di);
            /* T odd and past 2: steps in both directions, the last one up. */
            tcase *c = case_make(&r, cells[ci], 1, 5, dims[di][0], dims[di][1], di & 1, 0,
                                 CASE_ALL);
            const int64_t T = c->s.T, H = c->s.H, D = c->s.D;
            fwd_out o0, o;
            grad_out g0, g;
            fwd_out_alloc(c, &o0); fwd_out_alloc(c, &o);
            grad_out_alloc(c, &g0); grad_out_alloc(c, &g);
            for (int isa = 0; isa < LSTMF_N_ISA; isa++) {
                if (!use_isa(isa)) continue;
                for (int dtype = 0; dtype < 2; dtype++) {
                    char label[128];
                    snprintf(label, sizeof label, "row passes, cell %d D=%lld H=%lld %s %s",
                             cells[ci], (long long)D, (long long)H, lstmf_isa_name(isa),
                             dtype ? "f64" : "f32");
                    lstmf_set_l1d_bytes(0);
                    lib_run(c, dtype, &o0, &g0, label);
                    for (size_t li = 0; li < sizeof l1d / sizeof l1d[0]; li++) {
                        lstmf_set_l1d_bytes(l1d[li]);
                        lib_run(c, dtype, &o, &g, label);
                        CHECK(same_bits(o.y, o0.y, T * H) && same_bits(o.h_n, o0.h_n, H) &&
                                  same_bits(o.c_n, o0.c_n, H),
                              "%s, L1 %lld bytes: outputs differ", label, (long long)l1d[li]);
                        CHECK(same_grads(c, &g, &g0), "%s, L1 %lld bytes: gradients differ",
                              label, (long long)l1d[li]);
                    }
                }
            }
            lstmf_set_l1d_bytes(-1);
            fwd_out_free(&o0); fwd_out_free(&o);
            grad_out_free(&g0); grad_out_free(&g);
            case_free(c);
        }
}
