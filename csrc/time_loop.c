/* The time loop, for any cell (cells/cell.h), one (ISA, dtype) variant:
 * executors of a call's plan (plan.h).
 *
 * Forward: gather x into packed rows (unless inference can read it in
 * place), then per step the input projection of the step's rows and one
 * recurrent micro-kernel pass per (row panel, unit block) whose output tile
 * goes straight into the cell's epilogue.
 * Backward: per step the cell's epilogue (dh -> dZ), then dh_{t-1} = dZ W_hh
 * and dx_t = dZ W_ih; after the loop dW_ih and dW_hh are single large GEMMs
 * over all steps.
 *
 * Threads split the batch rows or each step's columns (thread_split.h);
 * every value is computed by the same arithmetic whatever the thread count.
 */
#include <string.h>

#include "kernels.h"
#include "cache_layout.h"
#include "cells/cell.h"
#include "gemm/gemm.h"
#include "plan.h"
#include "recurrent.h"
#include "step.h"
#include "stream.h"
#include "memory.h"
#include "thread_split.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* The index's four arrays (cache_layout.h), in the order they are stored. */
typedef struct {
    const int64_t *perm, *batch_sizes, *off, *row_len;
} row_index;

static row_index index_of(const int64_t *index, int64_t B, int64_t T) {
    return (row_index){index, index + B, index + B + T, index + B + 2 * T + 1};
}

/* Fills the index (index_of's arrays): a counting sort by decreasing
 * length (stable) gives perm, the live rows per step, the first packed row
 * of every step and each sorted row's length. */
static void build_index(int64_t B, int64_t T, const int64_t *lengths, int64_t *index) {
    int64_t *perm = index, *batch_sizes = index + B, *off = index + B + T;
    int64_t *row_len = off + T + 1;
    for (int64_t t = 0; t < T; t++) batch_sizes[t] = 0;
    for (int64_t b = 0; b < B; b++) batch_sizes[(lengths ? lengths[b] : T) - 1]++;
    /* batch_sizes[t] now counts samples of length t+1; turn it into the
     * number of samples longer than t while placing them in perm. */
    int64_t pos = 0;
    for (int64_t len = T; len >= 1; len--) {
        int64_t count = batch_sizes[len - 1];
        batch_sizes[len - 1] = pos + count; /* longer than len-1 */
        for (int64_t b = 0, k = 0; k < count && b < B; b++)
            if ((lengths ? lengths[b] : T) == len) perm[pos + k++] = b;
        pos += count;
    }
    off[0] = 0;
    for (int64_t t = 0; t < T; t++) off[t + 1] = off[t] + batch_sizes[t];
    for (int64_t i = 0; i < B; i++) row_len[i] = lengths ? lengths[perm[i]] : T;
}

/* Time index of live row i at step t (from its last step back when
 * running in reverse). */
static inline int64_t seq_time(const lstmf_shape *s, const int64_t *row_len,
                               int64_t i, int64_t t) {
    return s->reverse ? row_len[i] - 1 - t : t;
}

/* The plan's hold for a call starting now (the C tests may force one). */
static int current_hold(void) {
    const int forced = lstmf_forced_hold();
    if (forced >= 0) return forced;
    return lstmf_threads_on_hold() ? PLAN_HOLD_THREADS
           : splits_on_hold()      ? PLAN_HOLD_SPLITS
                                   : PLAN_HOLD_NONE;
}

/* ------------------------------------------------------------- forward */

/* Everything a forward's threads read, worked out once per call. */
typedef struct {
    const call_plan *p;
    const lstmf_shape *s;
    const FN(cell_ops) *cell;
    step_weights sw;
    row_index ix;
    const real *x, *h0, *c0, *b_ih;
    real *y, *h_n, *c_n;
    const real *b_hh;     /* the step's: b_hh, or b_ih + b_hh when fused */
    real *cache;          /* training only */
    lstmf_cache_offsets lay;
    real *xp;             /* x of live row i of step t at xp + (off[t] + i)*ldx,
                           * unless read in place; in training, the cache's
                           * xh rows: x_t, then h_{t-1} */
    real *z;              /* the cache's z (training), one step's z rows
                           * (inference, unfused), or NULL */
    real *hbuf, *cbuf, *tiles;
    /* Dropout (training, lstmf.h): the masks, NULL for none; with h_mask,
     * hmbuf holds h_{t-1} and h_t times it, as step_h's two buffers. */
    const real *x_mask, *h_mask;
    real *hmbuf;
    int64_t ldx, y_ld;
} fwd_call;

/* x of live row 0 of step t, rows ldx apart. */
static inline const real *step_x(const fwd_call *f, int64_t t) {
    return f->p->x_in_place ? f->x + seq_time(f->s, f->ix.row_len, 0, t) * f->p->D
                            : f->xp + f->ix.off[t] * f->ldx;
}

/* h_{t-1} of every row (and h_t in the other buffer). */
static inline real *step_h(const fwd_call *f, int64_t t) {
    return f->hbuf + (t & 1) * f->p->B * f->p->H;
}

/* h_{t-1} as W_hh reads it: times the dropout mask, if any. */
static inline const real *step_h_rec(const fwd_call *f, int64_t t) {
    return f->h_mask ? f->hmbuf + (t & 1) * f->p->B * f->p->H : step_h(f, t);
}

/* dst[k] = src[k] * mask[k], k < n. */
static inline void masked_copy(real *dst, const real *src, const real *mask, int64_t n) {
    for (int64_t k = 0; k < n; k++) dst[k] = src[k] * mask[k];
}

/* dst[k] *= mask[k], k < n. */
static inline void mask_in_place(real *dst, const real *mask, int64_t n) {
    for (int64_t k = 0; k < n; k++) dst[k] *= mask[k];
}

/* Rows [i0, i1) before the loop: inputs gathered into packed rows,
 * initial states into sorted rows, padded outputs zeroed (as torch's
 * pad_packed_sequence gives). */
static void forward_prepare_rows(const fwd_call *f, int64_t i0, int64_t i1) {
    const call_plan *p = f->p;
    const int64_t T = p->T, D = p->D, H = p->H;
    const int has_c = p->cell.has_cell_state;
    const int64_t *perm = f->ix.perm, *row_len = f->ix.row_len;
    for (int64_t i = i0; i < i1; i++) {
        for (int64_t t = 0; t < row_len[i] && !p->x_in_place; t++) {
            real *dst = f->xp + (f->ix.off[t] + i) * f->ldx;
            const real *src = f->x + (perm[i] * T + seq_time(f->s, row_len, i, t)) * D;
            if (f->x_mask) masked_copy(dst, src, f->x_mask + perm[i] * D, D);
            else memcpy(dst, src, sizeof(real) * D);
        }
        if (f->h0) memcpy(f->hbuf + i * H, f->h0 + perm[i] * H, sizeof(real) * H);
        else memset(f->hbuf + i * H, 0, sizeof(real) * H);
        if (f->h_mask) masked_copy(f->hmbuf + i * H, f->hbuf + i * H, f->h_mask + perm[i] * H, H);
        if (has_c && f->c0) memcpy(f->cbuf + i * H, f->c0 + perm[i] * H, sizeof(real) * H);
        else if (has_c) memset(f->cbuf + i * H, 0, sizeof(real) * H);
        if (f->cache) { /* h_{-1} and c_{-1} as backward reads them */
            memcpy(f->xp + i * (D + H) + D, f->hbuf + i * H, sizeof(real) * H);
            if (has_c) memcpy(f->cache + f->lay.c0 + i * H, f->cbuf + i * H, sizeof(real) * H);
        }
        for (int64_t t = row_len[i]; t < T && f->y; t++)
            memset(f->y + (perm[i] * T + t) * f->y_ld, 0, sizeof(real) * H);
    }
}

/* The thread's part of step t; 1 when it leaves the loop (no rows left,
 * or the threads went solo and it is not thread 0). */
static int forward_step(const fwd_call *f, FN(fwd_step) *st, split_thread *th, int64_t t,
                        real *tile) {
    const call_plan *p = f->p;
    const int64_t T = p->T, D = p->D, H = p->H, GH = p->cell.gates * H;
    const int64_t ZW = p->cell.z_width * H, r0 = th->r0;
    const int64_t *off = f->ix.off, *batch_sizes = f->ix.batch_sizes;
    const int64_t i_end = MIN(th->r1, batch_sizes[t]);
    if (i_end <= r0) return 1;
    split_step_begin(th);
    st->h_prev = step_h(f, t);
    st->n_next = t + 1 < T ? batch_sizes[t + 1] : 0;
    st->h_out = step_h(f, t + 1);
    st->z = f->cache ? f->z + off[t] * ZW : f->z;
    st->z_in = p->fuse_input ? NULL : st->z;
    if (p->cell.has_cell_state) st->c_prev = st->c_out = f->cbuf;
    if (f->cache) {
        st->h_cache = t + 1 < T ? f->xp + off[t + 1] * (D + H) + D : NULL;
        st->h_cache_ld = D + H;
        st->c_cache = p->cell.has_cell_state ? f->cache + f->lay.c + off[t] * H : NULL;
    }
    st->seq.t = t;
    if (!p->fuse_input) {
        /* Each thread projects its rows and its panels of x_t W_ih^T + b_ih
         * into z, which every thread waits for before its unit blocks. */
        const int64_t zp0 = split_range_lo(th, p->z_panels), zp1 = split_range_hi(th, p->z_panels);
        const int64_t n_cols = MIN(GH, zp1 * GEMM_NR) - zp0 * GEMM_NR;
        if (f->sw.precision)
            project_reduced(&f->sw, r0, i_end, step_x(f, t), f->ldx, zp0, zp1, n_cols,
                            f->b_ih + zp0 * GEMM_NR, st->z + r0 * ZW + zp0 * GEMM_NR, ZW, tile);
        else
            rows_times_packed(r0, i_end, step_x(f, t), f->ldx, D, f->sw.wi + zp0 * D * GEMM_NR,
                              n_cols, f->b_ih + zp0 * GEMM_NR, st->z + r0 * ZW + zp0 * GEMM_NR,
                              ZW, 0, 0);
        split_step_barrier(th);
    }
    /* A thread with one row takes its tiles, and the panels in each, last
     * to first at every other step, so that each step starts on the
     * panels the step before ended with (row_panels); the same bits. */
    const int64_t blk0 = split_range_lo(th, p->nblocks), blk1 = split_range_hi(th, p->nblocks);
    forward_tiles(&f->sw, f->cell, st, r0, i_end, step_x(f, t), f->ldx, step_h_rec(f, t), blk0,
                  blk1, (t & 1) && i_end - r0 == 1, tile);
    /* Dropout: the thread's part of h_t (its rows, its units) masked for
     * the next step's product, before the barrier that publishes h_t. */
    if (f->h_mask) {
        const int64_t j0 = blk0 * f->sw.U, j1 = MIN(blk1 * f->sw.U, H);
        real *hm = (real *)step_h_rec(f, t + 1);
        for (int64_t i = r0; i < MIN(i_end, st->n_next); i++)
            masked_copy(hm + i * H + j0, st->h_out + i * H + j0,
                        f->h_mask + f->ix.perm[i] * H + j0, j1 - j0);
    }
    /* Splitting units: h_t complete before any thread reads it (and
     * h_{t-1}'s buffer free for h_{t+1}). */
    return split_step_end(th, t);
}

/* One thread's forward: its rows prepared, then every step. */
static void forward_thread(const void *call, split_thread *th) {
    const fwd_call *f = call;
    const call_plan *p = f->p;
    forward_prepare_rows(f, th->own0, th->own1);
    split_sync(th, 1);
    FN(fwd_step) st = {
        .H = p->H, .U = f->sw.U, .training = f->cache != NULL, .b_hh = f->b_hh,
        .perm = f->ix.perm, .h_stride = p->H, .y = f->y,
        .seq = {.perm = f->ix.perm, .row_len = f->ix.row_len, .T = p->T, .ld = f->y_ld,
                .reverse = f->s->reverse},
        .h_n = f->h_n, .c_n = f->c_n,
    };
    real *tile = f->tiles + p->tile_elems * th->tid;
    for (int64_t t = 0; t < p->T; t++)
        if (forward_step(f, &st, th, t, tile)) break;
    /* The cells' streamed cache writes (vstream_upto), visible to
     * backward's threads. */
    if (f->cache) vstream_fence();
}

/* W_hh^T packed per unit block; W_ih^T too when fused, with both biases
 * in one vector, else as a plain GEMM operand; in float panels or, with
 * reduced precision, in reduced ones. The step's b_hh. */
static const real *pack_forward_weights(const call_plan *p, const lstmf_weights *w, void *ws) {
    const int G = p->cell.gates;
    const int64_t D = p->D, H = p->H;
    real *wi = plan_array(p, ws, WS_W_IH), *bias = plan_array(p, ws, WS_BIAS);
    int64_t *col_map = plan_array(p, ws, WS_COL_MAP);
    if (p->precision) {
        step_pack_reduced(p->precision, G, D, H, p->fuse_input, w, col_map, wi,
                          plan_array(p, ws, WS_W_HH));
    } else if (p->fuse_input) {
        FN(pack_recurrent)(G, H, D, (const real *)w->w_ih, wi, col_map);
    } else {
        FN(gemm_pack_b)(D, G * H, (const real *)w->w_ih, 1, D, NULL, wi);
    }
    if (p->fuse_input)
        for (int64_t j = 0; j < G * H; j++)
            bias[j] = ((const real *)w->b_ih)[j] + ((const real *)w->b_hh)[j];
    if (!p->precision)
        FN(pack_recurrent)(G, H, H, (const real *)w->w_hh, plan_array(p, ws, WS_W_HH), col_map);
    return p->fuse_input ? bias : (const real *)w->b_hh;
}

static int run_forward(const lstmf_shape *s, const lstmf_weights *w, const void *x,
                       const void *h0, const void *c0, const int64_t *lengths, int64_t N,
                       void *y, void *h_n, void *c_n, void *cache, int64_t *cache_index,
                       int nthreads) {
    const FN(cell_ops) *cell = FN(cell_ops_for)(s->cell);
    if (!cell) return LSTMF_EINVAL;
    const call_plan p = FN(plan_call)(s, N, cache ? LSTMF_MODE_TRAINING : LSTMF_MODE_INFERENCE,
                                      y != NULL, nthreads, current_hold());
    void *ws = FN(plan_alloc)(&p);
    if (!ws) return LSTMF_ENOMEM;
    int64_t *index = cache_index ? cache_index : plan_array(&p, ws, WS_INDEX);
    fwd_call f = {.p = &p, .s = s, .cell = cell, .ix = index_of(index, p.B, p.T),
                  .x = x, .h0 = h0, .c0 = c0, .b_ih = w->b_ih, .y = y, .h_n = h_n, .c_n = c_n,
                  .cache = cache, .hbuf = plan_array(&p, ws, WS_H),
                  .cbuf = plan_array(&p, ws, WS_C), .tiles = plan_array(&p, ws, WS_TILES),
                  .x_mask = w->x_mask, .h_mask = w->h_mask,
                  .hmbuf = plan_array(&p, ws, WS_HM), .y_ld = s->y_ld ? s->y_ld : p.H};
    build_index(p.B, p.T, lengths, index);
    f.lay = lstmf_cache_layout(p.cell.z_width, p.cell.has_cell_state, N, p.B, p.D, p.H);
    f.xp = cache ? f.cache + f.lay.xh : plan_array(&p, ws, WS_X);
    f.z = cache ? f.cache + f.lay.z : plan_array(&p, ws, WS_Z);
    f.ldx = cache ? p.D + p.H : p.x_in_place ? p.T * p.D : p.D;
    /* Reduced weights packed by the caller (lstmf_stream_pack's layout:
     * the one below, b_ih + b_hh after W_ih when fused) are read as they
     * are; otherwise packed into the workspace. */
    const void *wi = w->packed_ih ? w->packed_ih : plan_array(&p, ws, WS_W_IH);
    const void *wh = w->packed_hh ? w->packed_hh : plan_array(&p, ws, WS_W_HH);
    if (w->packed_ih)
        f.b_hh = p.fuse_input ? (const real *)wi + FN(reduced_ih_elems)(s) : w->b_hh;
    else
        f.b_hh = pack_forward_weights(&p, w, ws);
    f.sw = step_weights_of(p.cell.gates, p.D, p.H, p.fuse_input, wi, wh);
    step_weights_reduce(&f.sw, p.precision, wi, wh);
    run_threads(p.threads, p.split_cols, p.B, forward_thread, &f);
    FN(plan_free)(&p, ws);
    return LSTMF_OK;
}

/* ------------------------------------------------------------ backward */

typedef struct {
    const call_plan *p;
    const lstmf_shape *s;
    const FN(cell_ops) *cell;
    row_index ix;
    real *cache;
    lstmf_cache_offsets lay;
    real *z;              /* the cached activations, turned into dZ in place:
                           * the cache is single-use, as documented in lstmf.h */
    real *xh;             /* x_t, h_{t-1} rows; h masked in place after the loop
                           * under recurrent dropout (backward_finish_rows) */
    const real *dy, *dh_n, *dc_n;
    const lstmf_grads *g;
    real *dh, *dc, *wp, *wxp, *dxp, *dx;
    /* Dropout: the forward's masks (NULL for none); dhm, for cells with
     * direct_dh, takes dZ W_hh before the mask scales it into dh. */
    const real *x_mask, *h_mask;
    real *dhm;
    int64_t ldx, y_ld;
} bwd_call;

/* Rows [i0, i1) before the loop: the carried gradients from dh_n, dc_n. */
static void backward_prepare_rows(const bwd_call *b, int64_t i0, int64_t i1) {
    const int64_t H = b->p->H, *perm = b->ix.perm;
    for (int64_t i = i0; i < i1; i++) {
        if (b->dh_n) memcpy(b->dh + i * H, b->dh_n + perm[i] * H, sizeof(real) * H);
        else memset(b->dh + i * H, 0, sizeof(real) * H);
        if (!b->dc) continue;
        if (b->dc_n) memcpy(b->dc + i * H, b->dc_n + perm[i] * H, sizeof(real) * H);
        else memset(b->dc + i * H, 0, sizeof(real) * H);
    }
}

/* Rows [i0, i1) after the loop: dh0, dc0 and dx (from packed rows) into
 * the samples' places, and zeros at their padded steps, never written.
 * With dropout, dx_t is dx~_t (that of the masked x_t) times the mask, and
 * the cached h_{t-1} (unmasked: the cell's backward read it) is masked
 * for the weight gradient, dW_hh = sum h~_{t-1}^T dZ_t. */
static void backward_finish_rows(const bwd_call *b, int64_t i0, int64_t i1) {
    const call_plan *p = b->p;
    const int64_t T = p->T, D = p->D, H = p->H, *row_len = b->ix.row_len;
    const lstmf_grads *g = b->g;
    for (int64_t i = i0; i < i1; i++) {
        const int64_t s = b->ix.perm[i];
        memcpy((real *)g->h0 + s * H, b->dh + i * H, sizeof(real) * H);
        if (b->dc) memcpy((real *)g->c0 + s * H, b->dc + i * H, sizeof(real) * H);
        for (int64_t t = 0; t < row_len[i] && b->dx && (!p->dx_in_place || b->x_mask); t++) {
            real *dx = b->dx + (s * T + seq_time(b->s, row_len, i, t)) * D;
            if (!p->dx_in_place) memcpy(dx, b->dxp + (b->ix.off[t] + i) * D, sizeof(real) * D);
            if (b->x_mask) mask_in_place(dx, b->x_mask + s * D, D);
        }
        for (int64_t t = 0; t < row_len[i] && b->h_mask; t++)
            mask_in_place(b->xh + (b->ix.off[t] + i) * (D + H) + D, b->h_mask + s * H, H);
        for (int64_t t = row_len[i]; t < T; t++) {
            if (b->dx) memset(b->dx + (s * T + t) * D, 0, sizeof(real) * D);
            if (g->h_seq) memset((real *)g->h_seq + (s * T + t) * H, 0, sizeof(real) * H);
            if (b->dc && g->c_seq) memset((real *)g->c_seq + (s * T + t) * H, 0, sizeof(real) * H);
        }
    }
}

/* Column panel q of dh_{t-1} for rows [r0, i_end) under recurrent dropout:
 * dZ_t W_hh is the gradient of h~_{t-1} = h_{t-1} * mask, so it reaches
 * dh_{t-1} times the mask, added to the cell's direct part if it has one. */
static void recurrent_dh_masked(const bwd_call *b, const FN(bwd_step) *st, int64_t r0,
                                int64_t i_end, int64_t q) {
    const call_plan *p = b->p;
    const int64_t H = p->H, GH = p->cell.gates * H, ZW = p->cell.z_width * H;
    const int64_t zh = p->cell.separate_recurrent_dz ? GH : 0;
    const int64_t j0 = q * GEMM_NR, n = MIN(GEMM_NR, H - j0);
    real *prod = p->cell.direct_dh ? b->dhm : b->dh;
    rows_times_packed(r0, i_end, st->z + zh, ZW, GH, b->wp + q * GH * GEMM_NR, n, NULL,
                      prod + r0 * H + j0, H, 0, 0);
    for (int64_t i = r0; i < i_end; i++) {
        const real *m = b->h_mask + b->ix.perm[i] * H + j0, *src = prod + i * H + j0;
        real *dh = b->dh + i * H + j0;
        if (p->cell.direct_dh)
            for (int64_t k = 0; k < n; k++) dh[k] += src[k] * m[k];
        else
            mask_in_place(dh, m, n);
    }
}

/* The thread's part of step t (dh_t -> dZ_t -> dh_{t-1}, dx_t); 1 when it
 * leaves the loop (the threads went solo and it is not thread 0). */
static int backward_step(const bwd_call *b, FN(bwd_step) *st, split_thread *th, int64_t t) {
    const call_plan *p = b->p;
    const int64_t T = p->T, D = p->D, H = p->H, GH = p->cell.gates * H;
    const int64_t ZW = p->cell.z_width * H, DH = D + H, r0 = th->r0;
    const int64_t *off = b->ix.off;
    /* Columns of a z row with the dZ of the recurrent product. */
    const int64_t zh = p->cell.separate_recurrent_dz ? GH : 0;
    const int64_t i_end = MIN(th->r1, b->ix.batch_sizes[t]);
    if (i_end <= r0) return 0;
    split_step_begin(th);
    st->z = b->z + off[t] * ZW;
    st->h_prev = b->xh + off[t] * DH + D;
    if (p->cell.has_cell_state) {
        st->c_cur = b->cache + b->lay.c + off[t] * H;
        st->c_prev = t ? b->cache + b->lay.c + off[t - 1] * H : b->cache + b->lay.c0;
    }
    st->seq.t = st->state_seq.t = t;
    /* Splitting columns, one thread turns dh_t into dZ_t (a small part of
     * the step) while the others wait for it. */
    if (!th->split || th->tid == 0) b->cell->backward_rows(st, r0, i_end);
    split_step_barrier(th);
    real *dx_t = !b->dx ? NULL
                 : p->dx_in_place ? b->dx + (r0 * T + seq_time(b->s, b->ix.row_len, r0, t)) * D
                                  : b->dxp + (off[t] + r0) * D;
    /* Column panels: dh_{t-1}'s [0, ph), then dx_t's [ph, ph + pd). */
    const int64_t ph = p->dh_panels, parts = ph + p->dx_panels;
    for (int64_t q = split_range_lo(th, parts); q < split_range_hi(th, parts); q++) {
        if (q < ph && b->h_mask)
            recurrent_dh_masked(b, st, r0, i_end, q);
        else if (q < ph)
            rows_times_packed(r0, i_end, st->z + zh, ZW, GH, b->wp + q * GH * GEMM_NR,
                              MIN(GEMM_NR, H - q * GEMM_NR), NULL, b->dh + r0 * H + q * GEMM_NR,
                              H, p->cell.direct_dh, 0);
        else
            rows_times_packed(r0, i_end, st->z, ZW, GH, b->wxp + (q - ph) * GH * GEMM_NR,
                              MIN(GEMM_NR, D - (q - ph) * GEMM_NR), NULL,
                              dx_t + (q - ph) * GEMM_NR, b->ldx, 0, 0);
    }
    /* dh_{t-1} complete before the next step's epilogue reads it. */
    return split_step_end(th, t);
}

/* One thread's backward: its rows prepared, every step, its rows
 * finished. */
static void backward_thread(const void *call, split_thread *th) {
    const bwd_call *b = call;
    const call_plan *p = b->p;
    const row_index *ix = &b->ix;
    backward_prepare_rows(b, th->own0, th->own1);
    split_sync(th, 1);
    FN(bwd_step) st = {
        .H = p->H, .dh = b->dh, .dc = b->dc, .perm = ix->perm, .h_stride = p->D + p->H,
        .dy = b->dy,
        .seq = {.perm = ix->perm, .row_len = ix->row_len, .T = p->T, .ld = b->y_ld,
                .reverse = b->s->reverse},
        .h_seq = b->g->h_seq, .c_seq = p->cell.has_cell_state ? b->g->c_seq : NULL,
        .state_seq = {.perm = ix->perm, .row_len = ix->row_len, .T = p->T, .ld = p->H,
                      .reverse = b->s->reverse}};
    for (int64_t t = p->T - 1; t >= 0; t--)
        if (backward_step(b, &st, th, t)) break;
    /* Splitting columns, the rows below were written by every thread (or
     * by thread 0 alone, still running after the others went solo). */
    split_sync(th, 0);
    backward_finish_rows(b, th->own0, th->own1);
}

/* dst (cols x rows, leading dimension ldd) = src^T, src rows x cols with
 * leading dimension cols; in square tiles, so that both sides are read and
 * written a few cache lines at a time. */
static void transpose(const real *src, int64_t rows, int64_t cols, real *dst, int64_t ldd) {
    enum { TILE = 16 };
    for (int64_t r0 = 0; r0 < rows; r0 += TILE)
        for (int64_t c0 = 0; c0 < cols; c0 += TILE)
            for (int64_t c = c0; c < MIN(cols, c0 + TILE); c++)
                for (int64_t r = r0; r < MIN(rows, r0 + TILE); r++)
                    dst[c * ldd + r] = src[r * cols + c];
}

/* Weight gradients, transposed: [dW_ih, dW_hh]^T = [x, h_{t-1}]^T dZ, one
 * GEMM over all packed rows that also sums dZ's columns into the bias
 * gradient; two when the recurrent product has its own dZ. So dZ, the
 * large operand, is the product's B, packed row by row in the order memory
 * holds it, and its G*H columns fill whole micro-panels, where as dZ^T,
 * the A operand, it would be read down its columns. Each element is the
 * same sum in the same order, so the same bits. */
static void weight_gradients(const bwd_call *b, real *dwt, real *scratch) {
    const call_plan *p = b->p;
    const int64_t D = p->D, H = p->H, DH = D + H, GH = p->cell.gates * H, N = p->N;
    const int64_t ZW = p->cell.z_width * H, nt = p->run_threads;
    const lstmf_grads *g = b->g;
    if (!p->cell.separate_recurrent_dz) {
        FN(gemm_sum_b)(DH, GH, N, b->xh, 1, DH, b->z, ZW, 1, dwt, GH, g->b_ih, nt, scratch);
        memcpy(g->b_hh, g->b_ih, sizeof(real) * GH);
    } else {
        FN(gemm_sum_b)(D, GH, N, b->xh, 1, DH, b->z, ZW, 1, dwt, GH, g->b_ih, nt, scratch);
        FN(gemm_sum_b)(H, GH, N, b->xh + D, 1, DH, b->z + GH, ZW, 1, dwt + D * GH, GH, g->b_hh,
                       nt, scratch);
    }
    transpose(dwt, D, GH, (real *)g->w_ih, D);
    transpose(dwt + D * GH, H, GH, (real *)g->w_hh, H);
}

static int run_backward(const lstmf_shape *s, const lstmf_weights *w, void *cache,
                        const int64_t *index, const void *dy, const void *dh_n,
                        const void *dc_n, const lstmf_grads *g, int nthreads) {
    const FN(cell_ops) *cell = FN(cell_ops_for)(s->cell);
    if (!cell) return LSTMF_EINVAL;
    const row_index ix = index_of(index, s->batch, s->steps);
    const int64_t N = ix.off[s->steps];
    const call_plan p = FN(plan_call)(s, N, LSTMF_MODE_BACKWARD, g->x != NULL, nthreads,
                                      current_hold());
    void *ws = FN(plan_alloc)(&p);
    if (!ws) return LSTMF_ENOMEM;
    const int64_t GH = p.cell.gates * p.H;
    bwd_call b = {.p = &p, .s = s, .cell = cell, .ix = ix, .cache = cache, .dy = dy,
                  .dh_n = dh_n, .dc_n = dc_n, .g = g, .dh = plan_array(&p, ws, WS_DH),
                  .dc = plan_array(&p, ws, WS_DC), .wp = plan_array(&p, ws, WS_W_HH),
                  .wxp = plan_array(&p, ws, WS_W_IH), .dxp = plan_array(&p, ws, WS_DX),
                  .dx = g->x, .ldx = p.dx_in_place ? p.T * p.D : p.D,
                  .x_mask = w->x_mask, .h_mask = w->h_mask, .dhm = plan_array(&p, ws, WS_DHM),
                  .y_ld = s->y_ld ? s->y_ld : p.H};
    b.lay = lstmf_cache_layout(p.cell.z_width, p.cell.has_cell_state, N, p.B, p.D, p.H);
    b.z = b.cache + b.lay.z;
    b.xh = b.cache + b.lay.xh;
    /* dh_{t-1} = dZ_t W_hh and dx_t = dZ_t W_ih: W_hh (G*H x H) and W_ih
     * (G*H x D), row-major, are the B operands. dx_t is computed in the
     * step, while dZ_t is still in cache, rather than as one GEMM over all
     * steps after the loop, which would read dZ back from memory. */
    FN(gemm_pack_b)(GH, p.H, (const real *)w->w_hh, p.H, 1, NULL, b.wp);
    if (b.dx) FN(gemm_pack_b)(GH, p.D, (const real *)w->w_ih, p.D, 1, NULL, b.wxp);
    run_threads(p.threads, p.split_cols, p.B, backward_thread, &b);
    weight_gradients(&b, plan_array(&p, ws, WS_DWT), plan_array(&p, ws, WS_GEMM));
    FN(plan_free)(&p, ws);
    return LSTMF_OK;
}

/* The workspace lstmf_call_bytes reports: the plan's, whether or not
 * column splits are on hold (the layout is the same). */
static int64_t call_workspace_bytes(const lstmf_shape *s, int64_t N, int mode, int want,
                                    int nthreads) {
    return FN(plan_call)(s, N, mode, want, nthreads, PLAN_HOLD_NONE).bytes;
}

const lstmf_variant FN(lstmf_variant) = {
    run_forward, run_backward, FN(stream_pack), FN(stream_packed_elems),
    FN(stream_step), FN(stream_workspace_bytes), call_workspace_bytes,
};
