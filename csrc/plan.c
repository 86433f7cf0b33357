/* Plans of the time loop's calls (plan.h), one variant. */
#include "plan.h"
#include "cache_layout.h"
#include "gemm/gemm.h"
#include "recurrent.h"
#include "step.h"
#include "thread_split.h"

/* Appends `elems` elements of `elem` bytes to the layout (and a red zone
 * after them in sanitizer builds, memory.h). */
static void take(call_plan *p, int which, int64_t elems, int64_t elem) {
    const int64_t bytes = lstmf_mul(elems, elem);
    p->size[which] = bytes;
    p->at[which] = p->bytes;
    const int64_t padded = lstmf_add(bytes, bytes ? LSTMF_REDZONE + LSTMF_ALIGN - 1 : 0);
    p->bytes = lstmf_add(p->bytes, padded < 0 ? -1 : padded / LSTMF_ALIGN * LSTMF_ALIGN);
}

/* The forward's per-thread tiles: enough for either thread split, so that
 * the layout does not depend on whether splits are on hold. */
static int64_t tiles_elems(const call_plan *p, int nthreads) {
    const int G = p->cell.gates;
    const int split = column_split_threads(nthreads, p->B, p->D + p->H, G * p->H, p->nblocks);
    const int nt = row_split_threads(nthreads, p->B, p->H, G);
    const int64_t by_rows = lstmf_mul(step_scratch_elems(p->precision, G, (p->B + nt - 1) / nt,
                                                         p->D, p->H), nt);
    const int64_t by_cols =
        split ? lstmf_mul(step_scratch_elems(p->precision, G, p->B, p->D, p->H), split) : 0;
    return by_rows > by_cols ? by_rows : by_cols;
}

static void plan_forward(call_plan *p, int hold) {
    const int G = p->cell.gates, training = p->mode == LSTMF_MODE_TRAINING;
    const int64_t B = p->B, D = p->D, H = p->H, GH = G * H, sz = sizeof(real);
    /* W_ih x_t joins W_hh h_{t-1} in each step's tile (K grows by D)
     * instead of one GEMM over all steps before the loop: the projection's
     * z (N x G*H) is then never written to memory and read back. The GRU
     * keeps the separate projection (its recurrent product needs its own
     * dZ), and so does the one-gate RNN, whose epilogue reads a single z
     * column per unit; those project step by step, each thread its own
     * rows right before the step, where the epilogue reads them from
     * cache. Same arithmetic either way, so the same bits. */
    p->fuse_input = step_fuses_input(p->cell);
    /* When every sample runs all T steps (N = B*T), live row i of step t is
     * sample i, and inference reads x where it is, rows T*D apart.
     * Training always gathers: its cache keeps x for the weight gradients. */
    p->x_in_place = !training && p->N == B * p->T;
    p->nblocks = recurrent_blocks(G, H);
    p->z_panels = (GH + GEMM_NR - 1) / GEMM_NR;
    p->split_cols = hold == PLAN_HOLD_NONE
                        ? column_split_threads(p->nthreads, B, D + H, GH, p->nblocks) : 0;
    p->threads = p->split_cols ? p->split_cols : row_split_threads(p->run_threads, B, H, G);
    /* One tile per thread, as tall as its rows rounded up to whole row
     * panels (all rows while splitting columns). */
    p->tile_elems = step_scratch_elems(p->precision, G,
                                       p->split_cols ? B : (B + p->threads - 1) / p->threads, D,
                                       H);

    /* Training keeps x, z and c in the cache; inference needs x (unless
     * read in place) and one step's z rows (unless fused). Both carry the
     * recurrence in two h buffers and one c buffer per row. */
    take(p, WS_INDEX, training ? 0 : lstmf_index_elems(B, p->T), sizeof(int64_t));
    take(p, WS_X, training || p->x_in_place ? 0 : lstmf_mul(p->N, D), sz);
    take(p, WS_Z, training || p->fuse_input ? 0 : lstmf_mul(B, p->cell.z_width * H), sz);
    take(p, WS_H, lstmf_mul(2 * B, H), sz);
    take(p, WS_C, p->cell.has_cell_state ? lstmf_mul(B, H) : 0, sz);
    /* Reserved in every training call, so that the size query needs no
     * dropout flag: two (B, H) buffers beside a cache of N rows. */
    take(p, WS_HM, training ? lstmf_mul(2 * B, H) : 0, sz);
    if (p->precision) { /* bytes of reduced panels (step.h) */
        take(p, WS_W_HH, step_reduced_bytes(p->precision, G, D, H, p->fuse_input, 1), 1);
        take(p, WS_W_IH, step_reduced_bytes(p->precision, G, D, H, p->fuse_input, 0), 1);
    } else {
        take(p, WS_W_HH, FN(recurrent_packed_elems)(G, H, H), sz);
        take(p, WS_W_IH, p->fuse_input ? FN(recurrent_packed_elems)(G, H, D)
                                       : FN(gemm_packed_b_elems)(D, GH), sz);
    }
    take(p, WS_BIAS, p->fuse_input ? GH : 0, sz);
    take(p, WS_COL_MAP, FN(recurrent_col_map_elems)(G, H), sizeof(int64_t));
    take(p, WS_TILES, tiles_elems(p, p->nthreads), sz);
}

static void plan_backward(call_plan *p, int hold) {
    const int G = p->cell.gates;
    const int64_t B = p->B, D = p->D, H = p->H, GH = G * H, N = p->N, sz = sizeof(real);
    /* When every sample runs all T steps, dx_t goes straight into dX, rows
     * T*D apart (as the forward reads x); otherwise into packed rows,
     * scattered afterwards. */
    p->dx_in_place = N == B * p->T || !p->want_dx;
    p->dh_panels = (H + GEMM_NR - 1) / GEMM_NR;
    p->dx_panels = p->want_dx ? (D + GEMM_NR - 1) / GEMM_NR : 0;
    p->split_cols = hold == PLAN_HOLD_NONE
                        ? column_split_threads(p->nthreads, B, D + H, GH,
                                               p->dh_panels + p->dx_panels)
                        : 0;
    p->threads = p->split_cols ? p->split_cols : row_split_threads(p->run_threads, B, H, G);
    /* The weight gradients: one GEMM over [x, h_{t-1}], or one over x and
     * one over h_{t-1} when the recurrent product has its own dZ; one
     * after the other, so they share their packing buffers. */
    int64_t gemm = FN(gemm_sum_b_scratch_elems)(D + H, GH, N, p->nthreads);
    if (p->cell.separate_recurrent_dz) {
        const int64_t gx = FN(gemm_sum_b_scratch_elems)(D, GH, N, p->nthreads);
        const int64_t gh = FN(gemm_sum_b_scratch_elems)(H, GH, N, p->nthreads);
        gemm = gx > gh ? gx : gh;
    }
    take(p, WS_DH, lstmf_mul(B, H), sz);
    take(p, WS_DC, p->cell.has_cell_state ? lstmf_mul(B, H) : 0, sz);
    take(p, WS_DHM, p->cell.direct_dh ? lstmf_mul(B, H) : 0, sz);
    take(p, WS_W_HH, FN(gemm_packed_b_elems)(GH, H), sz);
    take(p, WS_W_IH, p->want_dx ? FN(gemm_packed_b_elems)(GH, D) : 0, sz);
    take(p, WS_DX, p->dx_in_place ? 0 : lstmf_mul(N, D), sz);
    take(p, WS_DWT, lstmf_mul(GH, D + H), sz);
    take(p, WS_GEMM, gemm, sz);
}

call_plan FN(plan_call)(const lstmf_shape *s, int64_t N, int mode, int want, int nthreads,
                        int hold) {
    call_plan p = {0};
    p.mode = mode;
    p.cell = lstmf_cell(s->cell);
    p.precision = s->precision;
    p.B = s->batch, p.T = s->steps, p.D = s->input_size, p.H = s->hidden_size, p.N = N;
    p.want_dx = mode == LSTMF_MODE_BACKWARD && want;
    p.nthreads = nthreads < 1 ? 1 : nthreads;
    p.run_threads = hold == PLAN_HOLD_THREADS ? 1 : p.nthreads;
    if (mode == LSTMF_MODE_BACKWARD) plan_backward(&p, hold);
    else plan_forward(&p, hold);
    return p;
}

/* With AddressSanitizer, the gaps between the arrays poisoned (memory.h);
 * otherwise a plain allocation. */
void *FN(plan_alloc)(const call_plan *p) {
    char *ws = lstmf_alloc(p->bytes);
    if (!ws || !LSTMF_REDZONE) return ws;
    LSTMF_POISON(ws, p->bytes);
    for (int i = 0; i < WS_COUNT; i++) LSTMF_UNPOISON(ws + p->at[i], p->size[i]);
    return ws;
}

void FN(plan_free)(const call_plan *p, void *ws) {
    if (ws && LSTMF_REDZONE) LSTMF_UNPOISON(ws, p->bytes);
    lstmf_free(ws);
}
