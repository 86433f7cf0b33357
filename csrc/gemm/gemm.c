/* GEMM driver, BLIS's loop nest: NC-wide column blocks, KC-deep slices of
 * K, MC-row blocks of C, then MR x NR micro-panels. Threads own contiguous
 * ranges of C's columns or rows: every element is summed over K in the same
 * order by one thread, so results are bit-identical for any thread count,
 * and the threads never synchronise inside a product.
 */
#include "gemm.h"
#include "../internal.h"
#include "../memory.h"
#include "../omp_compat.h"

#include <string.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* -1 if the count does not fit an int64 (lstmf_mul). */
int64_t FN(gemm_packed_b_elems)(int64_t K, int64_t n_cols) {
    int64_t panels = n_cols < 0 ? -1 : n_cols / GEMM_NR + (n_cols % GEMM_NR != 0);
    return lstmf_mul(lstmf_mul(panels, K > 0 ? K : 1), GEMM_NR);
}

/* Where column c of a packed operand comes from: B's column col_map[c]
 * (or c), K elements rsb apart; NULL past n_cols or where col_map has -1,
 * for a column of zeros. */
static const real *source_column(int64_t c, int64_t n_cols, const real *B, int64_t csb,
                                 const int64_t *col_map) {
    const int64_t src = c >= n_cols ? -1 : (col_map ? col_map[c] : c);
    return src < 0 ? NULL : B + src * csb;
}

/* Panel p of B: K x NR, source columns from col_map or in order. */
static void pack_b_panel(int64_t p, int64_t K, int64_t n_cols, const real *B,
                         int64_t rsb, int64_t csb, const int64_t *col_map,
                         real *Bp) {
    real *dst = Bp + p * K * GEMM_NR;
    const int64_t c0 = p * GEMM_NR;
    if (!col_map && csb == 1) {
        /* Row-major source: one contiguous copy per k, zeros past n_cols.
         * A whole panel row is NV vector moves, not a memcpy call per row:
         * rows are short (the weight gradients' dZ), so the call would
         * cost more than the copy. */
        const int64_t w = MIN(GEMM_NR, n_cols - c0);
        if (w == GEMM_NR) {
            for (int64_t k = 0; k < K; k++)
                for (int v = 0; v < GEMM_NV; v++)
                    vstore(dst + k * GEMM_NR + v * VLEN, vload(B + k * rsb + c0 + v * VLEN));
            return;
        }
        for (int64_t k = 0; k < K; k++) {
            memcpy(dst + k * GEMM_NR, B + k * rsb + c0, sizeof(real) * w);
            for (int64_t n = w; n < GEMM_NR; n++) dst[k * GEMM_NR + n] = 0;
        }
        return;
    }
    if (rsb == 1) {
        /* Each column a contiguous run of K (B = w^T, w row-major: the
         * weights): VLEN columns by VLEN k at a time, transposed in
         * registers. Columns past n_cols or mapped to -1 read as zeros. */
        for (int v = 0; v < GEMM_NV; v++) {
            const real *src[VLEN];
            for (int n = 0; n < VLEN; n++)
                src[n] = source_column(c0 + v * VLEN + n, n_cols, B, csb, col_map);
            for (int64_t k0 = 0; k0 < K; k0 += VLEN) {
                const int kc = (int)MIN(VLEN, K - k0);
                vreal r[VLEN];
                for (int n = 0; n < VLEN; n++) r[n] = src[n] ? vload_upto(src[n] + k0, kc) : vset1(0);
                vtranspose(r);
                for (int k = 0; k < kc; k++) vstore(dst + (k0 + k) * GEMM_NR + v * VLEN, r[k]);
            }
        }
        return;
    }
    for (int n = 0; n < GEMM_NR; n++) {
        const real *src = source_column(c0 + n, n_cols, B, csb, col_map);
        for (int64_t k = 0; k < K; k++) dst[k * GEMM_NR + n] = src ? src[k * rsb] : 0;
    }
}

void FN(gemm_pack_b)(int64_t K, int64_t n_cols, const real *B, int64_t rsb,
                     int64_t csb, const int64_t *col_map, real *Bp) {
    int64_t panels = (n_cols + GEMM_NR - 1) / GEMM_NR;
    for (int64_t p = 0; p < panels; p++)
        pack_b_panel(p, K, n_cols, B, rsb, csb, col_map, Bp);
}

/* The column sums of a packed B block (kc x nc) added to sums (nc), each
 * summed in k order from zero first; read from the packed copy, which is
 * contiguous and in cache. */
static void add_column_sums(int64_t kc, int64_t nc, const real *Bp, real *sums) {
    for (int64_t p = 0; p * GEMM_NR < nc; p++) {
        const real *panel = Bp + p * kc * GEMM_NR;
        real acc[GEMM_NR] = {0};
        for (int64_t k = 0; k < kc; k++)
            for (int n = 0; n < GEMM_NR; n++) acc[n] += panel[k * GEMM_NR + n];
        for (int64_t n = 0; n < GEMM_NR && p * GEMM_NR + n < nc; n++) sums[p * GEMM_NR + n] += acc[n];
    }
}

/* How gemm_sum_b divides a product among threads: nt threads owning
 * ranges of C's columns (split_n) or of its rows, in blocks of at most
 * mc_max rows, each with a packed copy of a KC x NC block of B (b_elems,
 * a whole number of cache lines). */
typedef struct {
    int nt, split_n;
    int64_t n_vecs, m_panels, mc_max, b_elems;
} sum_b_plan;

static sum_b_plan plan_sum_b(int64_t M, int64_t N, int64_t K, int nthreads) {
    sum_b_plan p;
    p.nt = nthreads < 1 ? 1 : nthreads;
    /* Small products are not worth waking the other threads for. */
    if ((double)M * N * K < 2e5) p.nt = 1;

    /* Each thread owns a contiguous range of C's columns, in whole vectors,
     * when there is a panel's worth (NR) or more for each: then every
     * thread packs and reads only its columns of B, the large operand.
     * Otherwise it owns whole MR-row panels, as even as panels allow, taken
     * in blocks of at most MC rows, so that no thread is left a short last
     * block. */
    p.n_vecs = (N + VLEN - 1) / VLEN;
    p.m_panels = (M + GEMM_MR - 1) / GEMM_MR;
    p.split_n = p.n_vecs >= (int64_t)p.nt * GEMM_NV;
    if (!p.split_n && p.nt > p.m_panels) p.nt = (int)p.m_panels;
    p.mc_max = MIN(GEMM_MC, (p.split_n ? p.m_panels : (p.m_panels + p.nt - 1) / p.nt) * GEMM_MR);
    const int64_t kc_max = MIN(K, GEMM_KC), nc_max = MIN(N, GEMM_NC);
    p.b_elems = (FN(gemm_packed_b_elems)(kc_max, nc_max) + 63) / 64 * 64;
    return p;
}

int64_t FN(gemm_sum_b_scratch_elems)(int64_t M, int64_t N, int64_t K, int nthreads) {
    if (M <= 0 || N <= 0 || K <= 0) return 0;
    const sum_b_plan p = plan_sum_b(M, N, K, nthreads);
    return lstmf_mul(p.b_elems, p.nt);
}

int FN(gemm_sum_b)(int64_t M, int64_t N, int64_t K,
                   const real *A, int64_t rsa, int64_t csa,
                   const real *B, int64_t rsb, int64_t csb,
                   real *C, int64_t ldc, real *b_sums, int nthreads, real *scratch) {
    if (M <= 0 || N <= 0) return 0;
    for (int64_t j = 0; j < N; j++) b_sums[j] = 0;
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = 0;
        return 0;
    }
    const sum_b_plan plan = plan_sum_b(M, N, K, nthreads);
    const int nt = plan.nt, split_n = plan.split_n;
    const int64_t n_vecs = plan.n_vecs, m_panels = plan.m_panels, mc_max = plan.mc_max;
    const int64_t b_elems = plan.b_elems;

    /* Each thread packs its own copy of every B block it reads (cheap next
     * to the products: one copy per 2*mc flops) so the threads never wait
     * for each other. A is read in place, whatever its strides: the
     * micro-kernel broadcasts each of its elements from where it is, where
     * packing A's MR-row panels (a column-major A, as [x, h]^T in the
     * weight gradients) would copy all of A per thread and KC-deep slice.
     * The caller's scratch, or buffers allocated before the parallel
     * region, so that a failure is reported instead of half-computing C. */
    real *own = scratch ? NULL : lstmf_alloc_n(lstmf_mul(b_elems, nt), sizeof(real));
    if (!scratch && !own) return -1;
    if (!scratch) scratch = own;

    const double start = omp_get_wtime();
    double first_done = start;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        real *Bp = scratch + b_elems * tid;
        const int64_t m_lo = split_n ? 0 : MIN(M, m_panels * tid / nth * GEMM_MR);
        const int64_t m_hi = split_n ? M : MIN(M, m_panels * (tid + 1) / nth * GEMM_MR);
        const int64_t n_lo = split_n ? MIN(N, n_vecs * tid / nth * VLEN) : 0;
        const int64_t n_hi = split_n ? MIN(N, n_vecs * (tid + 1) / nth * VLEN) : N;
        for (int64_t n0 = n_lo; n0 < n_hi; n0 += GEMM_NC) {
            const int64_t nc = MIN(GEMM_NC, n_hi - n0);
            for (int64_t p0 = 0; p0 < K; p0 += GEMM_KC) {
                const int64_t kc = MIN(GEMM_KC, K - p0);
                FN(gemm_pack_b)(kc, nc, B + p0 * rsb + n0 * csb, rsb, csb, NULL, Bp);
                /* The sums of B's columns: by the one thread of these
                 * columns' first rows. */
                if (m_lo == 0) add_column_sums(kc, nc, Bp, b_sums + n0);
                for (int64_t m0 = m_lo; m0 < m_hi; m0 += mc_max) {
                    const int64_t mc = MIN(mc_max, m_hi - m0);
                    const real *a = A + m0 * rsa + p0 * csa;
                    for (int64_t j = 0; j < nc; j += GEMM_NR) {
                        const int nr = (int)MIN(GEMM_NR, nc - j);
                        const real *panel = Bp + (j / GEMM_NR) * kc * GEMM_NR;
                        for (int64_t i = 0; i < mc; i += GEMM_MR) {
                            const int mr = (int)MIN(GEMM_MR, mc - i);
                            FN(gemm_micro)(mr, nr, kc, a + i * rsa, rsa, csa, panel,
                                           NULL, C + (m0 + i) * ldc + n0 + j, ldc,
                                           p0 > 0);
                        }
                    }
                }
            }
        }
        if (tid == 0) first_done = omp_get_wtime();
    }
    /* A thread whose core was taken holds the calls to one thread for a
     * while (internal.h). */
    if (nt > 1) lstmf_team_waited(first_done - start, omp_get_wtime() - first_done);
    lstmf_free(own);
    return 0;
}
