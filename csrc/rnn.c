/* The time loop, for any cell (cells/cell.h), one (ISA, dtype) variant.
 *
 * Forward: gather x into packed rows (unless inference can read it in
 * place), then per step the input projection of the step's rows and one
 * recurrent micro-kernel pass per (row panel, unit block) whose output tile
 * goes straight into the cell's epilogue.
 * Backward: per step the cell's epilogue (dh -> dZ), then dh_{t-1} = dZ W_hh
 * and dx_t = dZ W_ih; after the loop dW_ih and dW_hh are single large GEMMs
 * over all steps.
 *
 * Threads split the batch rows: a row's recurrence never reads another row,
 * so the whole time loop runs with no barrier. With too few rows to split
 * (streaming, B = 1) and large weights, they split each step's columns
 * instead, with a barrier or two per step (column_split_threads). Either way
 * every value is computed by the same arithmetic whatever the thread count.
 */
#include <string.h>

#include "kernels.h"
#include "cache_layout.h"
#include "cells/cell.h"
#include "gemm/gemm.h"
#include "recurrent.h"
#include "step.h"
#include "stream.h"
#include "memory.h"
#include "omp_compat.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* Counting sort by decreasing length (stable): perm, live rows per step,
 * the first packed row of every step, and each sorted row's length. */
static void build_index(int64_t B, int64_t T, const int64_t *lengths,
                        int64_t *perm, int64_t *batch_sizes, int64_t *off,
                        int64_t *row_len) {
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

/* Threads for the time loop: no more than rows, and one for tiny problems
 * where waking a second core costs more than it saves. */
static int loop_threads(int nthreads, int64_t B, int64_t H, int gates) {
    int nt = nthreads < 1 ? 1 : nthreads;
    if (nt > B) nt = (int)B;
    if ((double)B * H * H * gates < 1e5) nt = 1;
    return nt;
}

/* Until when (ms on omp_get_wtime's clock) calls do not split columns: a
 * second after a call had to go solo (end_split_step), so that a process
 * kept short of cores pays for a failed split once a second rather than at
 * every call. Only a hint for speed: any value gives the same results. */
static int64_t split_hold_until_ms;

static int64_t now_ms(void) { return (int64_t)(omp_get_wtime() * 1e3); }

static int splits_on_hold(void) {
    return __atomic_load_n(&split_hold_until_ms, __ATOMIC_RELAXED) > now_ms();
}

static void hold_splits(void) {
    __atomic_store_n(&split_hold_until_ms, now_ms() + 1000, __ATOMIC_RELAXED);
}

/* Threads that split each step's columns instead of its rows, or 0.
 * With one row panel or less (streaming, B = 1) splitting rows leaves every
 * thread but one idle, while splitting the columns (the forward's unit
 * blocks, the backward's panels of dh_{t-1} and dx_t) halves the weights
 * each thread streams per step: worth a barrier or two per step once a
 * step's products, B x K times K x GH, are large enough (an LSTM's at
 * H = 64 are not: 0.85 -> 1.15 ms for the stream shape's forward). Each
 * thread keeps a fixed range of parts, so that weights that fit the
 * threads' L2 halves stay where they are used (parts claimed one at a time
 * from a shared counter took an RNN's B = 1, H = 512 forward from 0.65x to
 * 1.04x the one-thread time). */
static int column_split_possible(int nthreads, int64_t B, int64_t K, int64_t GH,
                                 int64_t parts) {
    if (nthreads < 2 || B > GEMM_MR || parts < 2) return 0;
    if ((double)B * K * GH < 1.5e5) return 0;
    return nthreads < parts ? nthreads : (int)parts;
}

static int column_split_threads(int nthreads, int64_t B, int64_t K, int64_t GH,
                                int64_t parts) {
    return splits_on_hold() ? 0 : column_split_possible(nthreads, B, K, GH, parts);
}

/* Elements of the forward's per-thread tiles: enough for either way of
 * splitting, so that the size does not depend on whether splits are on
 * hold. */
static int64_t forward_tiles_elems(int nthreads, int64_t B, int64_t D, int64_t H, int G) {
    const int split = column_split_possible(nthreads, B, D + H, G * H, recurrent_blocks(G, H));
    const int nt = loop_threads(nthreads, B, H, G);
    const int64_t by_rows = lstmf_mul(step_tile_elems(G, (B + nt - 1) / nt), nt);
    const int64_t by_cols = split ? lstmf_mul(step_tile_elems(G, B), split) : 0;
    return by_rows > by_cols ? by_rows : by_cols;
}

/* Column-split steps meet at barriers, so a thread that loses its core (more
 * threads than free cores: a grid search's processes, other programs) stalls
 * every step, where threads splitting rows only finish later (measured with
 * two busy processes on two cores: a B = 1, H = 512 LSTM training call 20x
 * slower split than on one thread). So each thread times its work and its
 * wait at the barriers in every step; a wait longer than the work (plus
 * 50 us) means another thread held a part while it was descheduled, and
 * at the third such step (one is a hiccup of the VM; under contention they
 * come step after step) the thread votes for the rest of the call to run
 * on thread 0 alone, as it would without the split. The vote of step t
 * goes to votes[t & 1] and is read after the next step's last barrier,
 * where every thread reads the same value: all switch at the same step, and
 * later calls do not split for a second (hold_splits). */
typedef struct {
    double step_start;
    int long_waits;
} split_clock;

static double timed_barrier(void) {
    const double start = omp_get_wtime();
#pragma omp barrier
    return omp_get_wtime() - start;
}

/* At the end of step t (after its work): the step's last barrier, the
 * vote, and whether the threads go solo from the next step on. */
static int end_split_step(split_clock *c, double wait_so_far, int votes[2], int64_t t) {
    const double work = omp_get_wtime() - c->step_start - wait_so_far;
    const double wait = wait_so_far + timed_barrier();
    if (wait > work + 5e-5) c->long_waits++;
    if (c->long_waits >= 3) __atomic_store_n(&votes[t & 1], 1, __ATOMIC_RELAXED);
    if (!__atomic_load_n(&votes[(t + 1) & 1], __ATOMIC_RELAXED)) return 0;
    hold_splits();
    return 1;
}

static int rnn_forward(const lstmf_shape *s, const lstmf_weights *w,
                       const real *x, const real *h0, const real *c0,
                       const int64_t *lengths, real *y, real *h_n, real *c_n,
                       real *cache, int64_t *cache_index, int nthreads) {
    const FN(cell_ops) *cell = FN(cell_ops_for)(s->cell);
    if (!cell) return LSTMF_EINVAL;
    const int64_t B = s->batch, T = s->steps, D = s->input_size, H = s->hidden_size;
    const lstmf_cell_info info = lstmf_cell(s->cell);
    const int G = info.gates, has_c = info.has_cell_state;
    const int64_t GH = G * H, ZW = info.z_width * H; /* z row width */
    const int training = cache != NULL;

    int64_t *index = cache_index ? cache_index
                                 : lstmf_alloc_n(lstmf_index_elems(B, T), sizeof(int64_t));
    if (!index) return LSTMF_ENOMEM;
    int64_t *perm = index, *batch_sizes = index + B, *off = index + B + T;
    int64_t *row_len = off + T + 1;
    build_index(B, T, lengths, perm, batch_sizes, off, row_len);
    const int64_t y_ld = s->y_ld ? s->y_ld : H;
    const int64_t N = off[T];

    /* W_ih x_t joins W_hh h_{t-1} in each step's tile (K grows by D)
     * instead of one GEMM over all steps before the loop: the projection's
     * z (N x 4H) is then never written to memory and read back, which cost
     * more than the larger per-step K on every LSTM shape measured, from
     * D = H/8 to D = 2H (forward 9-48% faster, training 0-11%). The GRU
     * keeps the separate projection (its recurrent product needs its own
     * dZ), and so does the one-gate RNN, whose epilogue reads a single z
     * column per unit. Those project step by step as well: each thread
     * computes its own rows of x_t W_ih^T + b_ih into z right before the
     * step, where the epilogue reads them from cache. One GEMM over all
     * steps first wrote all of z (N x G*H) to memory and the steps read it
     * back; in inference that workspace was also fresh memory at every call
     * (the kernel zeroing its pages). Same arithmetic, so the same bits. */
    const int fuse_input = step_fuses_input(info);

    /* Inference reads x where it is when every sample runs all T steps
     * (N = B*T): live row i of step t is then sample i, rows T*D apart.
     * Otherwise x is gathered into packed rows; training always gathers, as
     * its cache keeps x for the weight gradients. */
    const int x_in_place = !training && N == B * T;

    /* Training keeps xh, z, c in the cache. Inference needs x (unless read
     * in place) and one step's z rows for the input projection (unless
     * fused). Both carry the recurrence in two h buffers and one c buffer
     * per row, which stay in cache; training also streams h_t and c_t into
     * the cache rows backward reads (cell.h: h_cache, c_cache), fresh
     * memory that cached stores would first read. */
    lstmf_cache_offsets lay = lstmf_cache_layout(info.z_width, has_c, N, B, D, H);
    const int64_t xwork = training || x_in_place ? 0 : lstmf_mul(N, D);
    const int64_t zwork = training || fuse_input ? 0 : lstmf_mul(B, ZW);
    real *work = lstmf_alloc_n(lstmf_add(lstmf_add(xwork, zwork), lstmf_mul(3 * B, H)),
                               sizeof(real));
    if (!work) goto nomem;
    /* x of live row i of step t at XROW(t) + i*ldx; h_{t-1} at
     * hbuf + HROW(t) + i*H. In training, row i of step t's xh at
     * xh + (off[t] + i)*(D + H): x_t, then h_{t-1}. */
    const int64_t ldx = training ? D + H : x_in_place ? T * D : D;
    real *xh = training ? cache + lay.xh : NULL;
    real *xp = training ? xh : work;
    real *z = training ? cache + lay.z : work + xwork;
    real *hbuf = work + xwork + zwork;
    real *cbuf = hbuf + 2 * B * H;
#define XROW(t) (x_in_place ? x + seq_time(s, row_len, 0, t) * D : xp + off[t] * ldx)
#define HROW(t) (((t) & 1) * B * H)

    const int64_t U = recurrent_unit_block(G), nblocks = recurrent_blocks(G, H);
    real *wp = lstmf_alloc_n(FN(recurrent_packed_elems)(G, H, H), sizeof(real));
    /* Fused: W_ih^T packed like W_hh^T, and both biases in one vector;
     * otherwise W_ih^T packed as a plain GEMM operand. */
    const int64_t in_elems = fuse_input ? FN(recurrent_packed_elems)(G, H, D)
                                        : FN(gemm_packed_b_elems)(D, GH);
    real *wi = lstmf_alloc_n(lstmf_add(in_elems, fuse_input ? GH : 0), sizeof(real));
    if (!wp || !wi) goto nomem_packed;
    real *bias = fuse_input ? wi + in_elems : NULL;

    if (fuse_input) {
        if (FN(pack_recurrent)(G, H, D, (const real *)w->w_ih, wi)) goto nomem_packed;
        for (int64_t j = 0; j < GH; j++)
            bias[j] = ((const real *)w->b_ih)[j] + ((const real *)w->b_hh)[j];
    } else {
        FN(gemm_pack_b)(D, GH, (const real *)w->w_ih, 1, D, NULL, wi);
    }

    /* W_hh^T packed once for all steps (recurrent.h). */
    if (FN(pack_recurrent)(G, H, H, (const real *)w->w_hh, wp)) goto nomem_packed;
    const step_weights sw = step_weights_of(G, D, H, fuse_input, wi, wp);

    /* Threads split the rows or, with few rows, the unit blocks; then also
     * the column panels of a separate input projection, all of which every
     * thread waits for before its unit blocks. One output tile per thread,
     * as wide as tile_blocks unit blocks and as tall as the thread's rows
     * rounded up to whole row panels. */
    const int split_units = column_split_threads(nthreads, B, D + H, GH, nblocks);
    const int64_t z_panels = (GH + GEMM_NR - 1) / GEMM_NR;
    const int nt = split_units ? split_units : loop_threads(nthreads, B, H, G);
    const int64_t rows_per_thread = split_units ? B : (B + nt - 1) / nt;
    const int64_t tile_elems = step_tile_elems(G, rows_per_thread);
    real *tiles = lstmf_alloc_n(forward_tiles_elems(nthreads, B, D, H, G), sizeof(real));
    if (!tiles) goto nomem_packed;
    int votes[2] = {0, 0}; /* end_split_step */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        /* The thread's rows [r0, r1); while splitting units (until the
         * threads go solo, end_split_step), its ranges of unit blocks and
         * input projection panels, else all of them. */
        int split = split_units && nth > 1;
        split_clock clock = {0, 0};
        const int64_t r0 = split_units ? 0 : B * tid / nth;
        const int64_t r1 = split_units ? B : B * (tid + 1) / nth;
        real *tile = tiles + tile_elems * tid;
        /* Rows [B*tid/nth, ...) only, before the loop (which, splitting
         * rows, reads no other rows): inputs gathered into packed rows,
         * initial states into sorted rows, padded outputs zeroed (as
         * torch's pad_packed_sequence gives). */
        for (int64_t i = B * tid / nth; i < B * (tid + 1) / nth; i++) {
            for (int64_t t = 0; t < row_len[i] && !x_in_place; t++)
                memcpy(xp + (off[t] + i) * ldx,
                       x + (perm[i] * T + seq_time(s, row_len, i, t)) * D, sizeof(real) * D);
            if (h0) memcpy(hbuf + i * H, h0 + perm[i] * H, sizeof(real) * H);
            else memset(hbuf + i * H, 0, sizeof(real) * H);
            if (has_c && c0) memcpy(cbuf + i * H, c0 + perm[i] * H, sizeof(real) * H);
            else if (has_c) memset(cbuf + i * H, 0, sizeof(real) * H);
            if (training) { /* h_{-1} and c_{-1} as backward reads them */
                memcpy(xh + i * (D + H) + D, hbuf + i * H, sizeof(real) * H);
                if (has_c) memcpy(cache + lay.c0 + i * H, cbuf + i * H, sizeof(real) * H);
            }
            for (int64_t t = row_len[i]; t < T && y; t++)
                memset(y + (perm[i] * T + t) * y_ld, 0, sizeof(real) * H);
        }
        if (split) {
#pragma omp barrier
        }
        FN(fwd_step) st = {
            .H = H, .U = U, .training = training,
            .b_hh = fuse_input ? bias : (const real *)w->b_hh, .perm = perm, .h_stride = H, .y = y,
            .seq = {.perm = perm, .row_len = row_len, .T = T, .ld = y_ld, .reverse = s->reverse},
            .h_n = h_n, .c_n = c_n,
        };
        for (int64_t t = 0; t < T; t++) {
            const int64_t i_end = MIN(r1, batch_sizes[t]);
            if (i_end <= r0) break;
            double wait = 0;
            if (split) clock.step_start = omp_get_wtime();
            const int64_t blk0 = split ? nblocks * tid / nth : 0;
            const int64_t blk1 = split ? nblocks * (tid + 1) / nth : nblocks;
            const int64_t zp0 = split ? z_panels * tid / nth : 0;
            const int64_t zp1 = split ? z_panels * (tid + 1) / nth : z_panels;
            const real *h_prev = hbuf + HROW(t);
            st.h_prev = h_prev;
            st.n_next = t + 1 < T ? batch_sizes[t + 1] : 0;
            st.h_out = hbuf + HROW(t + 1);
            st.z = training ? z + off[t] * ZW : fuse_input ? NULL : z;
            st.z_in = fuse_input ? NULL : st.z;
            if (has_c) st.c_prev = st.c_out = cbuf;
            if (training) {
                st.h_cache = t + 1 < T ? xh + off[t + 1] * (D + H) + D : NULL;
                st.h_cache_ld = D + H;
                st.c_cache = has_c ? cache + lay.c + off[t] * H : NULL;
            }
            st.seq.t = t;
            if (!fuse_input) {
                rows_times_packed(r0, i_end, XROW(t), ldx, D, wi + zp0 * D * GEMM_NR,
                                  MIN(GH, zp1 * GEMM_NR) - zp0 * GEMM_NR,
                                  (const real *)w->b_ih + zp0 * GEMM_NR,
                                  st.z + r0 * ZW + zp0 * GEMM_NR, ZW, 0, 0);
                if (split) wait += timed_barrier();
            }
            /* Unit blocks outside, tile_blocks at a time: the thread's tile
             * sums x_t W_ih^T (when fused) and h_{t-1} W_hh^T for those
             * blocks of units, then goes through the epilogue. A thread
             * with one row takes its tiles, and the panels in each, last to
             * first at every other step (row_panels): on AMD Zen 4 (32 KB
             * of L1) the stream shape's LSTM forward 6% faster, its GRU's
             * 8%, H = 512 2% (passes of two panels); the same bits. */
            forward_tiles(&sw, cell, &st, r0, i_end, XROW(t), ldx, blk0, blk1,
                              (t & 1) && i_end - r0 == 1, tile);
            /* Splitting units: h_t complete before any thread reads it
             * (and h_{t-1}'s buffer free for h_{t+1}). */
            if (split && end_split_step(&clock, wait, votes, t)) {
                if (tid != 0) break;
                split = 0;
            }
        }
        /* The cells' streamed cache writes (vstream_upto), visible to
         * backward's threads. */
        if (training) vstream_fence();
    }
#undef XROW
#undef HROW
    lstmf_free(tiles);
    lstmf_free(wi);
    lstmf_free(wp);
    lstmf_free(work);
    if (!cache_index) lstmf_free(index);
    return LSTMF_OK;

nomem_packed:
    lstmf_free(wi);
    lstmf_free(wp);
nomem:
    lstmf_free(work);
    if (!cache_index) lstmf_free(index);
    return LSTMF_ENOMEM;
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

static int rnn_backward(const lstmf_shape *s, const lstmf_weights *w,
                        real *cache, const int64_t *index,
                        const real *dy, const real *dh_n, const real *dc_n,
                        const lstmf_grads *g, int nthreads) {
    const FN(cell_ops) *cell = FN(cell_ops_for)(s->cell);
    if (!cell) return LSTMF_EINVAL;
    const int64_t B = s->batch, T = s->steps, D = s->input_size, H = s->hidden_size;
    const lstmf_cell_info info = lstmf_cell(s->cell);
    const int G = info.gates, has_c = info.has_cell_state;
    const int64_t GH = G * H, ZW = info.z_width * H;
    /* Columns of a z row with the dZ of the recurrent product. */
    const int64_t zh = info.separate_recurrent_dz ? GH : 0;
    const int64_t *perm = index, *batch_sizes = index + B, *off = index + B + T;
    const int64_t *row_len = off + T + 1;
    const int64_t N = off[T];
    const int64_t y_ld = s->y_ld ? s->y_ld : H;
    lstmf_cache_offsets lay = lstmf_cache_layout(info.z_width, has_c, N, B, D, H);
    /* Backward turns the cached activations into dZ in place: the cache is
     * single-use, as documented in rnn.h. */
    real *z = cache + lay.z;
    const real *xh = cache + lay.xh;
    const int64_t DH = D + H;

    /* When every sample runs all T steps, live row i of step t is sample i,
     * and dx_t goes straight into dX, rows T*D apart (as the forward reads
     * x); otherwise into packed rows, scattered afterwards (no packed rows
     * either when dX is not wanted). */
    real *dx = g->x;
    const int dx_in_place = N == B * T || !dx;
    const int64_t ldx = dx_in_place ? T * D : D;

    real *dh = lstmf_alloc_n(lstmf_mul(2 * B, H), sizeof(real));
    real *wp = lstmf_alloc_n(FN(gemm_packed_b_elems)(GH, H), sizeof(real));
    real *wxp = dx ? lstmf_alloc_n(FN(gemm_packed_b_elems)(GH, D), sizeof(real)) : NULL;
    real *dxp = dx_in_place ? NULL : lstmf_alloc_n(lstmf_mul(N, D), sizeof(real));
    real *dwt = lstmf_alloc_n(lstmf_mul(GH, DH), sizeof(real));
    int status = LSTMF_ENOMEM;
    if (!dh || !wp || (dx && !wxp) || (!dx_in_place && !dxp) || !dwt) goto done;
    real *dc = dh + B * H;
    /* dh_{t-1} = dZ_t W_hh and dx_t = dZ_t W_ih: W_hh (G*H x H) and W_ih
     * (G*H x D), row-major, are the B operands. dx_t is computed in the
     * step too, while dZ_t is still in cache: as one GEMM over all steps
     * after the loop it read dZ (N x G*H) back from memory and ran at half
     * the micro-kernel's rate at the medium shape. */
    FN(gemm_pack_b)(GH, H, (const real *)w->w_hh, H, 1, NULL, wp);
    if (dx) FN(gemm_pack_b)(GH, D, (const real *)w->w_ih, D, 1, NULL, wxp);

    /* Column panels: dh_{t-1}'s [0, ph), then dx_t's [ph, ph + pd) (none
     * when dx is not wanted). */
    const int64_t ph = (H + GEMM_NR - 1) / GEMM_NR, pd = dx ? (D + GEMM_NR - 1) / GEMM_NR : 0;
    const int split_cols = column_split_threads(nthreads, B, D + H, GH, ph + pd);
    const int nt = split_cols ? split_cols : loop_threads(nthreads, B, H, G);
    int votes[2] = {0, 0}; /* end_split_step */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        /* The thread's rows [r0, r1); while splitting columns (until the
         * threads go solo, end_split_step), its range of panels, else all
         * of them. */
        int split = split_cols && nth > 1;
        split_clock clock = {0, 0};
        const int64_t r0 = split_cols ? 0 : B * tid / nth;
        const int64_t r1 = split_cols ? B : B * (tid + 1) / nth;
        /* Rows [B*tid/nth, ...) only, before and after the loop (which,
         * splitting rows, reads no other rows), as in the forward. */
        for (int64_t i = B * tid / nth; i < B * (tid + 1) / nth; i++) {
            if (dh_n) memcpy(dh + i * H, dh_n + perm[i] * H, sizeof(real) * H);
            else memset(dh + i * H, 0, sizeof(real) * H);
            if (dc_n) memcpy(dc + i * H, dc_n + perm[i] * H, sizeof(real) * H);
            else memset(dc + i * H, 0, sizeof(real) * H);
        }
        if (split) {
#pragma omp barrier
        }
        FN(bwd_step) st = {.H = H, .dh = dh, .dc = dc, .perm = perm, .h_stride = DH, .dy = dy,
                           .seq = {.perm = perm, .row_len = row_len, .T = T, .ld = y_ld,
                                   .reverse = s->reverse},
                           .h_seq = g->h_seq, .c_seq = has_c ? g->c_seq : NULL,
                           .state_seq = {.perm = perm, .row_len = row_len, .T = T, .ld = H,
                                         .reverse = s->reverse}};
        for (int64_t t = T - 1; t >= 0; t--) {
            const int64_t i_end = MIN(r1, batch_sizes[t]);
            if (i_end <= r0) continue;
            double wait = 0;
            if (split) clock.step_start = omp_get_wtime();
            st.z = z + off[t] * ZW;
            st.h_prev = xh + off[t] * DH + D;
            if (has_c) {
                st.c_cur = cache + lay.c + off[t] * H;
                st.c_prev = t ? cache + lay.c + off[t - 1] * H : cache + lay.c0;
            }
            st.seq.t = st.state_seq.t = t;
            /* Splitting columns, one thread turns dh_t into dZ_t (a small
             * part of the step) while the others wait for it. */
            if (!split || tid == 0) cell->backward_rows(&st, r0, i_end);
            if (split) wait += timed_barrier();
            real *dx_t = !dx ? NULL
                         : dx_in_place ? dx + (r0 * T + seq_time(s, row_len, r0, t)) * D
                                       : dxp + (off[t] + r0) * D;
            const int64_t q1 = split ? (ph + pd) * (tid + 1) / nth : ph + pd;
            for (int64_t q = split ? (ph + pd) * tid / nth : 0; q < q1; q++) {
                if (q < ph)
                    rows_times_packed(r0, i_end, st.z + zh, ZW, GH, wp + q * GH * GEMM_NR,
                                      MIN(GEMM_NR, H - q * GEMM_NR), NULL,
                                      dh + r0 * H + q * GEMM_NR, H, info.direct_dh, 0);
                else
                    rows_times_packed(r0, i_end, st.z, ZW, GH, wxp + (q - ph) * GH * GEMM_NR,
                                      MIN(GEMM_NR, D - (q - ph) * GEMM_NR), NULL,
                                      dx_t + (q - ph) * GEMM_NR, ldx, 0, 0);
            }
            /* dh_{t-1} complete before the next step's epilogue reads it. */
            if (split && end_split_step(&clock, wait, votes, t)) {
                if (tid != 0) break;
                split = 0;
            }
        }
        /* Splitting columns, the rows below were written by every thread
         * (or by thread 0 alone, still running after the others went
         * solo). */
        if (split_cols && nth > 1) {
#pragma omp barrier
        }
        for (int64_t i = B * tid / nth; i < B * (tid + 1) / nth; i++) {
            const int64_t b = perm[i];
            memcpy((real *)g->h0 + b * H, dh + i * H, sizeof(real) * H);
            if (has_c) memcpy((real *)g->c0 + b * H, dc + i * H, sizeof(real) * H);
            for (int64_t t = 0; t < row_len[i] && !dx_in_place; t++)
                memcpy(dx + (b * T + seq_time(s, row_len, i, t)) * D, dxp + (off[t] + i) * D,
                       sizeof(real) * D);
            /* Padded steps were never written: zero them. */
            for (int64_t t = row_len[i]; t < T; t++) {
                if (dx) memset(dx + (b * T + t) * D, 0, sizeof(real) * D);
                if (g->h_seq) memset((real *)g->h_seq + (b * T + t) * H, 0, sizeof(real) * H);
                if (has_c && g->c_seq)
                    memset((real *)g->c_seq + (b * T + t) * H, 0, sizeof(real) * H);
            }
        }
    }

    /* Weight gradients, transposed: [dW_ih, dW_hh]^T = [x, h_{t-1}]^T dZ,
     * one GEMM over all packed rows that also sums dZ's columns into the
     * bias gradient; two when the recurrent product has its own dZ. So
     * dZ, the large operand, is the product's B, packed row by row in the
     * order memory holds it, and its G*H columns fill whole micro-panels.
     * As dZ^T, the A operand, it was read down its columns (a strided walk
     * through memory that took half as long as the product itself at the
     * fit benchmark's shape), and D + H = 72 there left a last micro-panel
     * 8 columns wide. Each element is the same sum in the same order, so
     * the same bits. */
    if (!info.separate_recurrent_dz) {
        if (FN(gemm_sum_b)(DH, GH, N, xh, 1, DH, z, ZW, 1, dwt, GH, g->b_ih, nthreads, NULL))
            goto done;
        memcpy(g->b_hh, g->b_ih, sizeof(real) * GH);
    } else if (FN(gemm_sum_b)(D, GH, N, xh, 1, DH, z, ZW, 1, dwt, GH, g->b_ih, nthreads, NULL) ||
               FN(gemm_sum_b)(H, GH, N, xh + D, 1, DH, z + zh, ZW, 1, dwt + D * GH, GH,
                              g->b_hh, nthreads, NULL)) {
        goto done;
    }
    transpose(dwt, D, GH, (real *)g->w_ih, D);
    transpose(dwt + D * GH, H, GH, (real *)g->w_hh, H);

    status = LSTMF_OK;
done:
    lstmf_free(dh);
    lstmf_free(wp);
    lstmf_free(wxp);
    lstmf_free(dxp);
    lstmf_free(dwt);
    return status;
}

/* Bytes of every scratch allocation a call makes (forward or backward as
 * `mode` says), as the calls below allocate them. */
static int64_t call_workspace_bytes(const lstmf_shape *s, int64_t N, int mode, int want,
                                    int nthreads) {
    const lstmf_cell_info info = lstmf_cell(s->cell);
    const int64_t B = s->batch, T = s->steps, D = s->input_size, H = s->hidden_size;
    const int G = info.gates;
    const int64_t GH = G * H, ZW = info.z_width * H, sz = sizeof(real);
    if (mode == LSTMF_MODE_BACKWARD) {
        const int in_place = N == B * T || !want;
        int64_t e = lstmf_mul(2 * B, H);
        e = lstmf_add(e, FN(gemm_packed_b_elems)(GH, H));
        e = lstmf_add(e, want ? FN(gemm_packed_b_elems)(GH, D) : 0);
        e = lstmf_add(e, in_place ? 0 : lstmf_mul(N, D));
        e = lstmf_add(e, lstmf_mul(GH, D + H));
        if (info.separate_recurrent_dz)
            e = lstmf_add(e, lstmf_add(FN(gemm_sum_b_scratch_elems)(D, GH, N, nthreads),
                                       FN(gemm_sum_b_scratch_elems)(H, GH, N, nthreads)));
        else
            e = lstmf_add(e, FN(gemm_sum_b_scratch_elems)(D + H, GH, N, nthreads));
        return lstmf_mul(e, sz);
    }
    const int training = mode == LSTMF_MODE_TRAINING, fuse = step_fuses_input(info);
    const int x_in_place = !training && N == B * T;
    int64_t e = training || x_in_place ? 0 : lstmf_mul(N, D);
    e = lstmf_add(e, training || fuse ? 0 : lstmf_mul(B, ZW));
    e = lstmf_add(e, lstmf_mul(3 * B, H));
    e = lstmf_add(e, FN(recurrent_packed_elems)(G, H, H));
    e = lstmf_add(e, fuse ? lstmf_add(FN(recurrent_packed_elems)(G, H, D), GH)
                          : FN(gemm_packed_b_elems)(D, GH));
    e = lstmf_add(e, forward_tiles_elems(nthreads, B, D, H, G));
    const int64_t col_map = lstmf_mul(recurrent_blocks(G, H), G * recurrent_unit_block(G));
    int64_t bytes = lstmf_add(lstmf_mul(e, sz), lstmf_mul(fuse ? 2 * col_map : col_map, 8));
    return lstmf_add(bytes, training ? 0 : lstmf_mul(lstmf_index_elems(B, T), 8));
}

static int forward_entry(const lstmf_shape *s, const lstmf_weights *w,
                         const void *x, const void *h0, const void *c0,
                         const int64_t *lengths, void *y, void *h_n, void *c_n,
                         void *cache, int64_t *cache_index, int nthreads) {
    return rnn_forward(s, w, x, h0, c0, lengths, y, h_n, c_n, cache, cache_index, nthreads);
}

static int backward_entry(const lstmf_shape *s, const lstmf_weights *w,
                          void *cache, const int64_t *cache_index,
                          const void *dy, const void *dh_n, const void *dc_n,
                          const lstmf_grads *g, int nthreads) {
    return rnn_backward(s, w, cache, cache_index, dy, dh_n, dc_n, g, nthreads);
}

const lstmf_variant FN(lstmf_variant) = {
    forward_entry, backward_entry, FN(stream_pack), FN(stream_packed_elems),
    FN(stream_step), FN(stream_workspace_bytes), call_workspace_bytes,
};
