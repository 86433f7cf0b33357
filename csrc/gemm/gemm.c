/* GEMM driver: cache blocking (KC, MC, NC from blocksizes.h), packing of A
 * and B into contiguous panels, and OpenMP threading over MC x NC tiles of C.
 * Each tile is owned by one thread from start to finish and summed over K in
 * a fixed order, so results are bit-identical for any thread count.
 */
#include "gemm.h"
#include "../memory.h"
#include "../omp_compat.h"

int64_t FN(gemm_packed_b_elems)(int64_t K, int64_t n_cols) {
    int64_t panels = (n_cols + GEMM_NR - 1) / GEMM_NR;
    return panels * (K > 0 ? K : 1) * GEMM_NR;
}

void FN(gemm_pack_b)(int64_t K, int64_t n_cols, const real *B, int64_t rsb,
                     int64_t csb, const int64_t *col_map, real *Bp) {
    int64_t panels = (n_cols + GEMM_NR - 1) / GEMM_NR;
    for (int64_t p = 0; p < panels; p++) {
        real *dst = Bp + p * K * GEMM_NR;
        for (int64_t k = 0; k < K; k++) {
            for (int n = 0; n < GEMM_NR; n++) {
                int64_t col = p * GEMM_NR + n;
                int64_t src = col >= n_cols ? -1 : (col_map ? col_map[col] : col);
                dst[k * GEMM_NR + n] = src < 0 ? 0 : B[k * rsb + src * csb];
            }
        }
    }
}

/* A block (mc x kc) -> row-major rows of length kc. */
static void pack_a(int64_t mc, int64_t kc, const real *A, int64_t rsa,
                   int64_t csa, real *Ap) {
    for (int64_t i = 0; i < mc; i++)
        for (int64_t k = 0; k < kc; k++) Ap[i * kc + k] = A[i * rsa + k * csa];
}

static void gemm_tile(int64_t m0, int64_t mc, int64_t n0, int64_t nc,
                      int64_t K, const real *A, int64_t rsa, int64_t csa,
                      const real *B, int64_t rsb, int64_t csb,
                      const real *bias, real *C, int64_t ldc, real *Ap,
                      real *Bp) {
    if (K == 0) {
        for (int64_t i = 0; i < mc; i++)
            for (int64_t j = 0; j < nc; j++)
                C[(m0 + i) * ldc + n0 + j] = bias ? bias[n0 + j] : 0;
        return;
    }
    for (int64_t p0 = 0; p0 < K; p0 += GEMM_KC) {
        int64_t kc = K - p0 < GEMM_KC ? K - p0 : GEMM_KC;
        FN(gemm_pack_b)(kc, nc, B + p0 * rsb + n0 * csb, rsb, csb, NULL, Bp);
        pack_a(mc, kc, A + m0 * rsa + p0 * csa, rsa, csa, Ap);
        for (int64_t j = 0; j < nc; j += GEMM_NR) {
            int nr = nc - j < GEMM_NR ? (int)(nc - j) : GEMM_NR;
            const real *panel = Bp + (j / GEMM_NR) * kc * GEMM_NR;
            const real *bias_j = (bias && p0 == 0) ? bias + n0 + j : NULL;
            for (int64_t i = 0; i < mc; i += GEMM_MR) {
                int mr = mc - i < GEMM_MR ? (int)(mc - i) : GEMM_MR;
                FN(gemm_micro)(mr, nr, kc, Ap + i * kc, kc, panel, bias_j,
                               C + (m0 + i) * ldc + n0 + j, ldc, p0 > 0);
            }
        }
    }
}

int FN(gemm)(int64_t M, int64_t N, int64_t K,
             const real *A, int64_t rsa, int64_t csa,
             const real *B, int64_t rsb, int64_t csb,
             const real *bias, real *C, int64_t ldc, int nthreads) {
    if (M <= 0 || N <= 0) return 0;
    int64_t tiles_m = (M + GEMM_MC - 1) / GEMM_MC;
    int64_t tiles_n = (N + GEMM_NC - 1) / GEMM_NC;
    int64_t tiles = tiles_m * tiles_n;
    int nt = nthreads < 1 ? 1 : nthreads;
    if (nt > tiles) nt = (int)tiles;
    /* Small products are not worth waking the other threads for. */
    if ((double)M * N * K < 2e5) nt = 1;

    /* Packing buffers for every thread, allocated before the parallel region
     * so that a failure is reported instead of half-computing C. */
    int64_t kc_max = K < GEMM_KC ? (K > 0 ? K : 1) : GEMM_KC;
    int64_t a_elems = GEMM_MC * kc_max;
    int64_t b_elems = FN(gemm_packed_b_elems)(kc_max, GEMM_NC);
    int64_t per_thread = (a_elems + b_elems + 63) / 64 * 64;
    real *scratch = lstmf_alloc((int64_t)sizeof(real) * per_thread * nt);
    if (!scratch) return -1;

#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        real *Ap = scratch + per_thread * omp_get_thread_num();
        real *Bp = Ap + a_elems;
#pragma omp for schedule(static)
        for (int64_t t = 0; t < tiles; t++) {
            int64_t m0 = (t / tiles_n) * GEMM_MC, n0 = (t % tiles_n) * GEMM_NC;
            int64_t mc = M - m0 < GEMM_MC ? M - m0 : GEMM_MC;
            int64_t nc = N - n0 < GEMM_NC ? N - n0 : GEMM_NC;
            gemm_tile(m0, mc, n0, nc, K, A, rsa, csa, B, rsb, csb, bias, C,
                      ldc, Ap, Bp);
        }
    }
    lstmf_free(scratch);
    return 0;
}
