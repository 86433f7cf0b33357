/* Library internals shared by its own files and the C tests, outside the
 * public API (lstmf.h): nothing here is for the Python module.
 */
#ifndef LSTMF_INTERNAL_H
#define LSTMF_INTERNAL_H

#include <stdint.h>

#include "lstmf.h"

/* No array or workspace of an accepted shape reaches this many bytes, so
 * that no size or offset the kernels compute in int64 can wrap around. */
#define LSTMF_MAX_BYTES ((int64_t)1 << 60)

/* validate.c: what the entry points accept. A shape of a known cell and
 * dtype, positive sizes and every array within LSTMF_MAX_BYTES; all four
 * weights; a stack of stream layers that chain. */
int lstmf_shape_ok(const lstmf_shape *s);
int lstmf_weights_ok(const lstmf_weights *w);
/* Whether int8 weights (s->precision) come with finite, non-negative row
 * scales; 1 for other precisions. */
int lstmf_scales_ok(const lstmf_shape *s, const lstmf_weights *w);
/* Whether w carries dropout masks (training only, lstmf.h). */
int lstmf_weights_masked(const lstmf_weights *w);
int lstmf_stream_ok(int n_layers, const lstmf_stream_layer *layers);
/* The arguments of lstmf_forward (its packed row count, or LSTMF_EINVAL),
 * lstmf_backward and lstmf_stream_step (1 if acceptable, else 0). */
int64_t lstmf_forward_ok(const lstmf_shape *s, const lstmf_weights *w, const void *x,
                         const int64_t *lengths, const void *h_n, const void *c_n,
                         const void *cache, const int64_t *cache_index);
int lstmf_backward_ok(const lstmf_shape *s, const lstmf_weights *w, const void *cache,
                      const int64_t *cache_index, const lstmf_grads *g);
int lstmf_stream_step_ok(int n_layers, const lstmf_stream_layer *layers, int cur, const void *x,
                         const void *coef, const void *intercept, int64_t n_out, const void *out,
                         const void *workspace);

/* isa.c: the active ISA's variant of a dtype (kernels.h). */
struct lstmf_variant_s;
const struct lstmf_variant_s *lstmf_variant_of(int dtype);

/* The L1 data cache a batch of one sizes its passes over the weights for
 * (step.h: row_panels): the CPU's, as sysconf reports it, 0 when unknown
 * (the passes keep their widest). lstmf_set_l1d_bytes overrides it (the C
 * tests force each width; a negative size reads the CPU's again). Results
 * are the same bits whatever it is. */
int64_t lstmf_l1d_bytes(void);
void lstmf_set_l1d_bytes(int64_t bytes);

/* thread_hold.c: the hold on threads. A parallel region whose thread 0,
 * its own share done after `work` seconds, then waited `wait` seconds for
 * the others longer than it had worked, took longer than one thread doing
 * it all: another thread's core was taken (a competing process, a CPU
 * quota), and every later call on a team would wait for such a thread
 * too, a scheduler quantum at a time. So for a while (50 ms, doubled by
 * each team that waits again, up to 2 s) calls run on their caller's
 * thread alone, then a call tries a team again. Only a hint for speed:
 * results are the same bits either way. */
int lstmf_threads_on_hold(void);
void lstmf_team_waited(double work, double wait);

/* Test hook: every call plans under this hold (plan.h's PLAN_HOLD_*:
 * 0 none, 1 no column splits, 2 the caller's thread alone) instead of
 * the holds the calls themselves set (thread_split.h); -1 gives them
 * back. Results are the same bits under any hold. */
void lstmf_set_forced_hold(int hold);
int lstmf_forced_hold(void);

/* Bytes of scratch the library has allocated since the process started
 * (memory.c): the difference over one call is what lstmf_call_bytes
 * reports as its workspace_bytes. */
int64_t lstmf_scratch_bytes_allocated(void);

#endif
