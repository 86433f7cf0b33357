/* Register and cache blocking, one table for every ISA (BLIS-style).
 *
 * The micro-kernel holds an MR x NR block of C in registers, NR = NV vectors:
 * MR*NV accumulators + NV loads of B + 1 broadcast of A must fit the register
 * file (32 zmm with AVX-512, 16 ymm/xmm otherwise).
 * KC x NR panels of B stay in L2 (L1 while KC*NR fits) while MC x KC
 * blocks of A stream past.
 */
#ifndef LSTMF_BLOCKSIZES_H
#define LSTMF_BLOCKSIZES_H

#include "../simd/vec.h"

#if VBYTES == 64
#define GEMM_MR 6
#define GEMM_NV 4
#else
#define GEMM_MR 6
#define GEMM_NV 2
#endif

#define GEMM_NR (GEMM_NV * VLEN)
/* Panels of B a single row of C takes at once (gemm_micro_row): with
 * NV accumulators per panel, enough for the 8 independent FMAs that two
 * FMA ports with a 4-cycle latency keep in flight. */
#define GEMM_ROW_PANELS (8 / GEMM_NV)
/* Deep slices: every slice of K stores the MR x NR tile of C and reads it
 * back, and every micro-kernel call fills the FMA pipes anew, so fewer,
 * deeper slices do less of both. A KC x NR slice of B then sits in L2
 * rather than L1, which still feeds the NV loads per MR*NV FMAs of each k;
 * deeper still gains nothing more. */
#define GEMM_KC 512
#define GEMM_MC (16 * GEMM_MR)
#define GEMM_NC (8 * GEMM_NR)

#endif
