/* One time step's products, shared by the sequence loop (time_loop.c) and the
 * streaming step (stream.c): a stream's step is the sequence loop's step,
 * the same arithmetic, so it gives the same bits.
 *
 * Static functions in a header, inlined into each of the two loops (forced
 * for the row products, whose call overhead is visible in a streaming
 * step of a small layer).
 */
#ifndef LSTMF_STEP_H
#define LSTMF_STEP_H

#include "kernels.h"
#include "cells/cell.h"
#include "gemm/gemm.h"
#include "recurrent.h"
#include "memory.h"
#include "reduced/reduced.h"

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

/* Whether W_ih x_t joins W_hh h_{t-1} in the step's tile (plan.c says why):
 * not for a cell whose recurrent product needs its own dZ (the GRU) nor for
 * the one-gate RNN, which project x_t into z first. */
static inline int step_fuses_input(lstmf_cell_info info) {
    return !info.separate_recurrent_dz && info.gates > 1;
}

/* A layer's weights as its forward steps read them: W_hh^T packed by
 * pack_recurrent; W_ih^T packed the same way when the step fuses the input
 * (step_fuses_input; the step's b_hh is then b_ih + b_hh), else the caller
 * projects x_t into z itself before the step (rows_times_packed). */
typedef struct {
    int gates;
    int64_t D, H;
    int fuse_input;
    const real *wi, *wp;
    /* Reduced precision (LSTMF_PREC_*, 0: none): W_ih^T and W_hh^T packed
     * by reduced_pack in the same column order as wi and wp, which are
     * then unused. */
    int precision;
    qmatrix qi, qp;
    /* recurrent_unit_block and recurrent_blocks_per_tile, worked out once
     * rather than at every step. */
    int64_t U, tile_blocks;
} step_weights;

static inline step_weights step_weights_of(int gates, int64_t D, int64_t H, int fuse_input,
                                           const real *wi, const real *wp) {
    return (step_weights){.gates = gates, .D = D, .H = H, .fuse_input = fuse_input,
                          .wi = wi, .wp = wp, .U = recurrent_unit_block(gates),
                          .tile_blocks = recurrent_blocks_per_tile(gates)};
}

/* The two reduced matrices a step reads (reduced.h), in one place for the
 * sizes, the packing and the views: which = 0, W_ih^T (K = D) in the
 * recurrent column order when fused, else in the rows' order; which = 1,
 * W_hh^T (K = H). Their columns: */
static inline int64_t step_reduced_cols(int gates, int64_t H, int fuse_input, int which) {
    return which || fuse_input ? FN(recurrent_col_map_elems)(gates, H) : gates * H;
}

/* Bytes of one of them, packed. */
static inline int64_t step_reduced_bytes(int precision, int gates, int64_t D, int64_t H,
                                         int fuse_input, int which) {
    return FN(reduced_packed_bytes)(precision, which ? H : D,
                                    step_reduced_cols(gates, H, fuse_input, which));
}

/* Packs both from w's reduced weights into qi and qp, with col_map
 * (recurrent_col_map_elems entries) as scratch for the column order. */
static inline void step_pack_reduced(int precision, int gates, int64_t D, int64_t H,
                                     int fuse_input, const lstmf_weights *w, int64_t *col_map,
                                     void *qi, void *qp) {
    FN(recurrent_col_map)(gates, H, col_map);
    FN(reduced_pack)(precision, H, step_reduced_cols(gates, H, fuse_input, 1), w->w_hh,
                     gates * H, w->w_scale_hh, col_map, qp);
    FN(reduced_pack)(precision, D, step_reduced_cols(gates, H, fuse_input, 0), w->w_ih,
                     gates * H, w->w_scale_ih, fuse_input ? col_map : NULL, qi);
}

/* With reduced precision, the views of the packed matrices. */
static inline void step_weights_reduce(step_weights *sw, int precision, const void *qi,
                                       const void *qp) {
    sw->precision = precision;
    if (!precision) return;
    const int G = sw->gates, fuse = sw->fuse_input;
    sw->qi = FN(reduced_view)(precision, sw->D, step_reduced_cols(G, sw->H, fuse, 0), qi);
    sw->qp = FN(reduced_view)(precision, sw->H, step_reduced_cols(G, sw->H, fuse, 1), qp);
}

/* Panels a single row's pass takes at once (gemm_micro_row), for packed
 * panels K deep: GEMM_ROW_PANELS, whose independent FMAs cover the FMA
 * latency, unless that many overflow L1 while fewer fit. Why: a row of one
 * reads every weight once per step, bound by streaming them from L2 once
 * they outgrow L1, and the time loop alternates the direction of the passes
 * so that each step starts on the panels the step before ended with. A
 * pass's k loop ascends (the sums' order), so LRU evicts the first lines
 * of a pass larger than L1 just before they are read again, while a pass
 * that fits is read back whole; the same bits either way. With panels too
 * deep for L1 even alone nothing is read back, and the widest pass stays:
 * narrower passes would only lose the independent FMAs. */
LSTMF_INLINE int row_panels(int64_t K) {
    /* A quarter of L1 left for the row, its tile and the stack, and for
     * sets that fill before others (8 ways, not a true LRU). */
    const int64_t room = lstmf_l1d_bytes() / 4 * 3, bytes = K * GEMM_NR * (int64_t)sizeof(real);
    int r = GEMM_ROW_PANELS;
    if (bytes > room) return r;
    while (r > 1 && r * bytes > room) r /= 2;
    return r;
}

/* Passes of r panels a single row takes over n_cols columns. */
static inline int64_t row_groups(int64_t n_cols, int r) {
    return (n_cols + r * GEMM_NR - 1) / (r * GEMM_NR);
}

/* The first panel of the g-th of `groups` passes of r panels each: from the
 * first group, or, `descending`, from the last (see row_panels). Each
 * element is the same sum in either order. */
static inline int64_t row_group_panel(int64_t g, int64_t groups, int r, int descending) {
    return (descending ? groups - 1 - g : g) * r;
}

/* One row (a batch of one: streaming): c gets a (K >= 1 elements) times
 * n_cols columns of packed panels, panel q at packed + q*pstride, plus bias
 * (if not NULL) when `accumulate`, else written; the same sums in the same
 * order as rows_times_packed, row_panels(K) panels per pass
 * (gemm_micro_row), in the order row_group_panel gives. */
LSTMF_INLINE void row_times_packed(const real *a, int64_t K, const real *packed, int64_t pstride,
                             int64_t n_cols, const real *bias, real *c, int accumulate,
                             int descending) {
    const int r = row_panels(K);
    const int64_t groups = row_groups(n_cols, r);
    for (int64_t g = 0; g < groups; g++) {
        const int64_t p = row_group_panel(g, groups, r, descending);
        const int nr = (int)MIN(r * GEMM_NR, n_cols - p * GEMM_NR);
        for (int64_t k0 = 0; k0 < K; k0 += GEMM_KC)
            FN(gemm_micro_row)(nr, 0, NULL, NULL, 0, MIN(GEMM_KC, K - k0), a + k0,
                               packed + p * pstride + k0 * GEMM_NR, pstride,
                               bias && k0 == 0 ? bias + p * GEMM_NR : NULL, c + p * GEMM_NR,
                               accumulate || k0 > 0);
    }
}

/* Rows [r0, i_end) of a step: c (row i at c + (i - r0)*ldc) gets rows i of
 * A (at a + i*lda, K >= 1 columns) times B, K x n_cols packed in K x NR
 * panels (gemm_pack_b, or one unit block of pack_recurrent), plus bias (if
 * not NULL, n_cols elements): added when `accumulate`, else written. Column
 * panels outside, then KC-deep slices of K: each KC x NR slice of B stays in
 * cache while every row panel of the thread uses it. A single row takes its
 * panels in passes sized for L1, `descending` or not (row_panels); more
 * rows always ascend: they share each panel of B, so their passes are
 * bound by the FMAs rather than by reading B. */
LSTMF_INLINE void rows_times_packed(int64_t r0, int64_t i_end, const real *a, int64_t lda,
                              int64_t K, const real *packed, int64_t n_cols,
                              const real *bias, real *c, int64_t ldc, int accumulate,
                              int descending) {
    if (i_end - r0 == 1) {
        row_times_packed(a + r0 * lda, K, packed, K * GEMM_NR, n_cols, bias, c, accumulate,
                         descending);
        return;
    }
    for (int64_t p = 0; p * GEMM_NR < n_cols; p++) {
        const int nr = (int)MIN(GEMM_NR, n_cols - p * GEMM_NR);
        for (int64_t k0 = 0; k0 < K; k0 += GEMM_KC) {
            const int64_t kc = MIN(GEMM_KC, K - k0);
            const real *bias_p = bias && k0 == 0 ? bias + p * GEMM_NR : NULL;
            for (int64_t i = r0; i < i_end; i += GEMM_MR)
                FN(gemm_micro)((int)MIN(GEMM_MR, i_end - i), nr, kc, a + i * lda + k0, lda, 1,
                               packed + p * K * GEMM_NR + k0 * GEMM_NR, bias_p,
                               c + (i - r0) * ldc + p * GEMM_NR, ldc, accumulate || k0 > 0);
        }
    }
}

/* The fused step's tile: rows [r0, i_end) of x_t W_ih^T + h_{t-1} W_hh^T,
 * both packed per unit block (K = D and K = H panels), into c. The input
 * product and the first KC-deep slice of the recurrent one share each
 * micro-kernel pass (gemm_micro_pair), so the tile is not stored by one
 * pass and read back by the next: a short input pass (small D) would pay
 * a whole pass's overhead for little work. With D past KC, two
 * rows_times_packed. */
LSTMF_INLINE void rows_times_packed_pair(int64_t r0, int64_t i_end, const real *x, int64_t ldx,
                                   int64_t D, const real *packed_x, const real *h,
                                   int64_t H, const real *packed_h, int64_t n_cols, real *c,
                                   int64_t ldc, int descending) {
    if (D > GEMM_KC) {
        rows_times_packed(r0, i_end, x, ldx, D, packed_x, n_cols, NULL, c, ldc, 0, descending);
        rows_times_packed(r0, i_end, h, H, H, packed_h, n_cols, NULL, c, ldc, 1, descending);
        return;
    }
    const int64_t kc = MIN(GEMM_KC, H);
    if (i_end - r0 == 1) {
        const int r = row_panels(D + H);
        const int64_t groups = row_groups(n_cols, r);
        for (int64_t g = 0; g < groups; g++) {
            const int64_t p = row_group_panel(g, groups, r, descending);
            const int nr = (int)MIN(r * GEMM_NR, n_cols - p * GEMM_NR);
            FN(gemm_micro_row)(nr, D, x + r0 * ldx, packed_x + p * D * GEMM_NR, D * GEMM_NR, kc,
                               h + r0 * H, packed_h + p * H * GEMM_NR, H * GEMM_NR, NULL,
                               c + p * GEMM_NR, 0);
            if (kc < H)
                row_times_packed(h + r0 * H + kc, H - kc, packed_h + (p * H + kc) * GEMM_NR,
                                 H * GEMM_NR, nr, NULL, c + p * GEMM_NR, 1, 0);
        }
        return;
    }
    for (int64_t p = 0; p * GEMM_NR < n_cols; p++) {
        const int nr = (int)MIN(GEMM_NR, n_cols - p * GEMM_NR);
        for (int64_t i = r0; i < i_end; i += GEMM_MR)
            FN(gemm_micro_pair)((int)MIN(GEMM_MR, i_end - i), nr, D, x + i * ldx, ldx,
                                packed_x + p * D * GEMM_NR, kc, h + i * H, H,
                                packed_h + p * H * GEMM_NR, c + (i - r0) * ldc + p * GEMM_NR,
                                ldc);
        /* The rest of H: this panel's later slices, added. */
        if (kc < H)
            rows_times_packed(r0, i_end, h + kc, H, H - kc, packed_h + (p * H + kc) * GEMM_NR,
                              nr, NULL, c + p * GEMM_NR, ldc, 1, 0);
    }
}

/* Elements of the tile scratch forward_tiles needs for `rows` rows. */
static inline int64_t step_tile_elems(int gates, int64_t rows) {
    const int64_t TW = recurrent_blocks_per_tile(gates) * gates * recurrent_unit_block(gates);
    return lstmf_mul((rows + GEMM_MR) / GEMM_MR * GEMM_MR, TW);
}

/* The same with reduced precision: after the tile, `rows` rows of h_{t-1}
 * and of x_t converted for their products (reduced.h). */
static inline int64_t step_scratch_elems(int precision, int gates, int64_t rows, int64_t D,
                                         int64_t H) {
    const int64_t tile = step_tile_elems(gates, rows);
    if (!precision) return tile;
    const int64_t bytes = lstmf_add(reduced_rows_bytes(precision, rows, H),
                                    reduced_rows_bytes(precision, rows, D));
    return lstmf_add(tile, lstmf_add(bytes, 64) / (int64_t)sizeof(real));
}

/* Where the converted rows go: right after the tile of `rows` rows. */
static inline void *step_reduced_scratch(real *tile, int gates, int64_t rows) {
    return tile + step_tile_elems(gates, rows);
}

/* The input projection with reduced weights: rows [r0, i_end) of x (rows
 * ldx apart, K = D) times packed panels [p0, p1) of W_ih^T, plus bias,
 * into c (rows_times_packed's arguments otherwise), x converted in the
 * scratch after `tile`. */
LSTMF_INLINE void project_reduced(const step_weights *sw, int64_t r0, int64_t i_end,
                                  const real *x, int64_t ldx, int64_t p0, int64_t p1,
                                  int64_t n_cols, const real *bias, real *c, int64_t ldc,
                                  real *tile) {
    const qrows qx = FN(reduced_convert_rows)(sw->precision, x + r0 * ldx, ldx, i_end - r0, sw->D,
                                              step_reduced_scratch(tile, sw->gates, i_end - r0));
    FN(reduced_rows_times)(&sw->qi, &qx, i_end - r0, p0, p1, n_cols, bias, c, ldc, 0);
}

/* forward_tiles with reduced weights: h_{t-1} (and x_t when fused) of the
 * rows converted once, then per tile the products into the tile, in
 * float32, and the cell's epilogue on it. */
LSTMF_INLINE void forward_tiles_reduced(const step_weights *sw, const FN(cell_ops) *cell,
                                        const FN(fwd_step) *st, int64_t r0, int64_t i_end,
                                        const real *x, int64_t ldx, const real *h, int64_t blk0,
                                        int64_t blk1, real *tile) {
    const int G = sw->gates;
    const int64_t H = sw->H, U = sw->U, W = G * U, rows = i_end - r0;
    const int64_t tile_blocks = sw->tile_blocks, TW = tile_blocks * W;
    char *scratch = step_reduced_scratch(tile, G, rows);
    const qrows qh = FN(reduced_convert_rows)(sw->precision, h + r0 * H, H, rows, H, scratch);
    qrows qx = {0};
    if (sw->fuse_input)
        qx = FN(reduced_convert_rows)(sw->precision, x + r0 * ldx, ldx, rows, sw->D,
                                      scratch + reduced_rows_bytes(sw->precision, rows, H));
    for (int64_t blk = blk0; blk < blk1; blk += tile_blocks) {
        const int64_t cols = MIN(tile_blocks, blk1 - blk) * W;
        const int64_t p0 = blk * (W / GEMM_NR), p1 = p0 + cols / GEMM_NR;
        if (sw->fuse_input)
            FN(reduced_rows_times)(&sw->qi, &qx, rows, p0, p1, cols, NULL, tile, TW, 0);
        FN(reduced_rows_times)(&sw->qp, &qh, rows, p0, p1, cols, NULL, tile, TW,
                               sw->fuse_input);
        for (int64_t i = r0; i < i_end; i += GEMM_MR) {
            const int mr = (int)MIN(GEMM_MR, i_end - i);
            cell->forward_tile(st, i, mr, tile + (i - r0) * TW, TW, blk * U,
                               MIN(cols / G, H - blk * U));
        }
    }
}

/* Rows [r0, i_end) and unit blocks [blk0, blk1) of one forward step: per
 * tile of recurrent_blocks_per_tile blocks, the products (with x_t, rows
 * ldx apart, when fused; with h, rows H apart: h_{t-1} as W_hh reads it,
 * st->h_prev or its dropout-masked copy) into `tile`,
 * then the cell's epilogue (st) on it. `descending`: tiles and passes last
 * to first, for a single row (time_loop.c alternates it, see row_panels). */
LSTMF_INLINE void forward_tiles(const step_weights *sw, const FN(cell_ops) *cell,
                          const FN(fwd_step) *st, int64_t r0, int64_t i_end, const real *x,
                          int64_t ldx, const real *h, int64_t blk0, int64_t blk1,
                          int descending, real *tile) {
    if (sw->precision) {
        forward_tiles_reduced(sw, cell, st, r0, i_end, x, ldx, h, blk0, blk1, tile);
        return;
    }
    const int G = sw->gates;
    const int64_t D = sw->D, H = sw->H, U = sw->U, W = G * U;
    const int64_t tile_blocks = sw->tile_blocks, TW = tile_blocks * W;
    const int64_t panel = H * GEMM_NR, panel_in = D * GEMM_NR; /* K x NR panels */
    const int64_t ntiles = (blk1 - blk0 + tile_blocks - 1) / tile_blocks;
    for (int64_t n = 0; n < ntiles; n++) {
        const int64_t blk = blk0 + (descending ? ntiles - 1 - n : n) * tile_blocks;
        const int64_t cols = MIN(tile_blocks, blk1 - blk) * W;
        if (sw->fuse_input)
            rows_times_packed_pair(r0, i_end, x, ldx, D, sw->wi + blk * (W / GEMM_NR) * panel_in,
                                   h, H, sw->wp + blk * (W / GEMM_NR) * panel, cols,
                                   tile, TW, descending);
        else
            rows_times_packed(r0, i_end, h, H, H, sw->wp + blk * (W / GEMM_NR) * panel,
                              cols, NULL, tile, TW, 0, descending);
        for (int64_t i = r0; i < i_end; i += GEMM_MR) {
            const int mr = (int)MIN(GEMM_MR, i_end - i);
            cell->forward_tile(st, i, mr, tile + (i - r0) * TW, TW, blk * U,
                               MIN(cols / G, H - blk * U));
        }
    }
}

#endif
