/* One-step streaming inference (lstmf.h's lstmf_stream_*), one variant. */
#ifndef LSTMF_STREAM_H
#define LSTMF_STREAM_H

#include "kernels.h"
#include "config.h"

int64_t FN(stream_packed_elems)(const lstmf_shape *s, int which);
/* Elements of reduced-precision packed W_ih before the fused bias (the
 * forward's b_ih + b_hh in weights packed by stream_pack). */
int64_t FN(reduced_ih_elems)(const lstmf_shape *s);
int FN(stream_pack)(const lstmf_shape *s, const lstmf_weights *w, void *packed_ih,
                    void *packed_hh);
int64_t FN(stream_workspace_bytes)(int n_layers, const lstmf_stream_layer *layers);
int FN(stream_step)(int n_layers, const lstmf_stream_layer *layers, int cur, const void *x,
                    const void *coef, const void *intercept, int64_t n_out, void *out,
                    void *workspace);

#endif
