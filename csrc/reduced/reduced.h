/* Reduced-precision products (lstmf.h's LSTMF_PREC_INT8 and LSTMF_PREC_BF16)
 * for the forward step (step.h): the weights packed in panels of GEMM_NR
 * columns in the same column order as the float panels (so an output tile
 * is the same tile, and the cells' epilogues do not change), the rows of
 * x_t and h_{t-1} converted right before their product, and the sums turned
 * back into float32 in the tile.
 *
 * int8: a panel is K4/4 groups of NR columns by 4 consecutive k (K4: K
 * rounded up to 4, padding zero), as VNNI's vpdpbusd reads them; the rows
 * are stored biased, q + 128 (unsigned, as vpdpbusd's first operand), so a
 * sum is sum_k (q_k + 128) w_k, and 128 * sum_k w_k (the column sums, kept
 * after the panels) comes off before the scales: the exact int32 sum of q w.
 * bf16: K2/2 groups of NR columns by 2 consecutive k, as vdpbf16ps reads.
 */
#ifndef LSTMF_REDUCED_H
#define LSTMF_REDUCED_H

#include <math.h>
#include <string.h>

#include "../config.h"
#include "../gemm/blocksizes.h"
#include "../lstmf.h"

/* Functions whose float arithmetic must not be contracted into FMAs (so
 * that the int8 paths and the rows' rounding give the same bits however
 * they are compiled): GCC takes a function attribute, clang a pragma at
 * the start of the body. */
#if defined(__clang__)
#define NO_CONTRACT_FN
#define NO_CONTRACT_BODY _Pragma("clang fp contract(off)")
#else
#define NO_CONTRACT_FN __attribute__((optimize("fp-contract=off")))
#define NO_CONTRACT_BODY
#endif

/* Rows a micro-kernel call takes at once. */
#define Q_MR GEMM_MR

/* A packed K x N matrix (N: packed columns, a whole number of panels). */
typedef struct {
    int precision;
    int64_t K, kq;           /* kq: K rounded up to the group (4 int8, 2 bf16) */
    int64_t N;
    const void *panels;      /* panel p at panels + p * panel_bytes */
    int64_t panel_bytes;
    const float *scale;      /* int8: column scales (N) */
    const int32_t *colsum;   /* int8: column sums of the int8 weights (N) */
} qmatrix;

/* Bytes of a packed K x N matrix (N rounded up to whole panels). */
int64_t FN(reduced_packed_bytes)(int precision, int64_t K, int64_t N);

/* The view of a packed matrix at `base`. */
qmatrix FN(reduced_view)(int precision, int64_t K, int64_t N, const void *base);

/* Packs packed column n (< N) from row col_map[n] of w (rows of K values,
 * int8 or bfloat16; -1 or n past the map's end: a zero column), with its
 * scale (int8) from scale[col_map[n]]; col_map NULL: column n is row n of
 * w, for n < rows. */
void FN(reduced_pack)(int precision, int64_t K, int64_t N, const void *w, int64_t rows,
                      const float *scale, const int64_t *col_map, void *base);

/* Converted rows: `a` holds row r at a + r * lda bytes (kq entries: u8
 * biased int8 or bf16), int8 rows with their scale in rscale[r]. */
typedef struct {
    const void *a;
    int64_t lda;
    const float *rscale;
} qrows;

/* Scratch bytes of `rows` converted rows of K values, and their scales. */
static inline int64_t reduced_rows_bytes(int precision, int64_t rows, int64_t K) {
    const int64_t lda = precision == LSTMF_PREC_INT8 ? (K + 3) / 4 * 4 : (K + 1) / 2 * 4;
    return rows * (lda + (int64_t)sizeof(float)) + 64;
}

/* Rows [0, n) of src (row r at src + r * ld, K values) converted into
 * scratch `buf` (reduced_rows_bytes(precision, n, K) bytes). int8: each
 * row quantized with its own scale, max|row| / 127 (a row of zeros: scale 0),
 * which needs no bound on the values (an RNN's relu states, a user's h0)
 * and costs one pass over a row that its product reads G*H times. */
qrows FN(reduced_convert_rows)(int precision, const real *src, int64_t ld, int64_t n, int64_t K,
                               void *buf);

/* c (row r at c + r * ldc) gets rows [0, n) of `a` times panels [p0, p1)
 * of m: the column scales and the row scales applied (int8), plus bias (if
 * not NULL, indexed from panel p0's first column); written, or added when
 * `accumulate`; only the first n_cols columns from panel p0 are stored. */
void FN(reduced_rows_times)(const qmatrix *m, const qrows *a, int64_t n, int64_t p0, int64_t p1,
                            int64_t n_cols, const real *bias, real *c, int64_t ldc, int accumulate);

#endif
