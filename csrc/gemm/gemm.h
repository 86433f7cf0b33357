/* Packed GEMM: one driver (blocking, packing, threading) for every ISA, with
 * a register-blocked micro-kernel whose shape comes from blocksizes.h.
 *
 * Matrices are described by a pointer and two strides (row stride rs, column
 * stride cs, in elements), so transposed operands cost nothing extra: B's
 * transpose happens while packing, and the micro-kernel reads A's elements
 * through its strides.
 */
#ifndef LSTMF_GEMM_H
#define LSTMF_GEMM_H

#include "blocksizes.h"

/* C (M x N, row-major, leading dimension ldc) = A (M x K) * B (K x N), and
 * the column sums of B into b_sums (N): the bias gradient of a layer comes
 * out of its weight-gradient GEMM, which reads every element of dZ anyway.
 * Runs on up to nthreads OpenMP threads; the result does not depend on the
 * thread count (every element is summed in the same order by one thread).
 * scratch: gemm_sum_b_scratch_elems(M, N, K, nthreads) elements, 64-byte
 * aligned, for its packing buffers, or NULL for it to allocate them.
 * Returns 0, or -1 if those could not be allocated. */
int FN(gemm_sum_b)(int64_t M, int64_t N, int64_t K,
                   const real *A, int64_t rsa, int64_t csa,
                   const real *B, int64_t rsb, int64_t csb,
                   real *C, int64_t ldc, real *b_sums, int nthreads, real *scratch);
int64_t FN(gemm_sum_b_scratch_elems)(int64_t M, int64_t N, int64_t K, int nthreads);

/* Packs B (K x N, strides rsb/csb) into ceil(N/NR) panels of K x NR,
 * panel p at Bp + p*K*NR, element (k, n) at [k*NR + n]; columns past N are
 * zero. col_map, if not NULL, gives the source column of each packed column
 * (-1 for a zero column) and n_cols is the packed width; otherwise n_cols = N
 * and the columns are taken in order. */
void FN(gemm_pack_b)(int64_t K, int64_t n_cols, const real *B, int64_t rsb,
                     int64_t csb, const int64_t *col_map, real *Bp);

/* Elements needed by gemm_pack_b for a K x n_cols operand. */
int64_t FN(gemm_packed_b_elems)(int64_t K, int64_t n_cols);

/* One micro-panel: C (mr x nr, ldc) = A (mr x K, element (r, k) at
 * A[r*rsa + k*csa]) * Bp (one packed K x NR panel) [+ bias], accumulated
 * into C when accumulate != 0. mr <= MR, nr <= NR. */
void FN(gemm_micro)(int mr, int nr, int64_t K, const real *A, int64_t rsa,
                    int64_t csa, const real *Bp, const real *bias, real *C, int64_t ldc,
                    int accumulate);

/* C (mr x nr, ldc) = A2 * Bp2 + A * Bp: two products with row-major A
 * operands (element (r, k) at A[r*rsa + k]) and packed panels, summed into
 * the same registers, A2's K2 terms first, then A's K: the input and
 * recurrent products of a step in one pass, with no store and reload of C
 * between them. */
void FN(gemm_micro_pair)(int mr, int nr, int64_t K2, const real *A2, int64_t rsa2,
                         const real *Bp2, int64_t K, const real *A, int64_t rsa,
                         const real *Bp, real *C, int64_t ldc);

/* One row of C (nr <= GEMM_ROW_PANELS * NR columns at C) from up to
 * GEMM_ROW_PANELS packed panels side by side, panel q of Bp at
 * Bp + q*bstride and of Bp2 at Bp2 + q*bstride2: A2 * Bp2 (K2 terms, none
 * when K2 = 0), then A * Bp, [+ bias] [+ C when accumulate]; with K2 > 0,
 * bias NULL and accumulate 0, as gemm_micro_pair. Each element is the sum
 * gemm_micro or gemm_micro_pair computes, in the same order, so the same
 * bits. Why: one row of C has only NV accumulators per panel, each FMA
 * waiting on the one before it in the same register; several panels at
 * once give the core independent FMAs to overlap (a batch of one:
 * streaming). */
void FN(gemm_micro_row)(int nr, int64_t K2, const real *A2, const real *Bp2,
                        int64_t bstride2, int64_t K, const real *A, const real *Bp,
                        int64_t bstride, const real *bias, real *C, int accumulate);

#endif
