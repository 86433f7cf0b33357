/* Per-variant configuration of the kernel sources.
 *
 * Every file that includes this header is compiled once per (ISA, dtype)
 * pair, like NumPy's *.dispatch.c sources: CMake defines LSTMF_ISA (generic,
 * avx2, avx512) and LSTMF_DTYPE_F64 (or not, for float32) and passes the
 * matching -m flags. FN(name) gives each variant's symbols a unique suffix,
 * e.g. FN(gemm_micro) -> gemm_micro_avx512_f32, so all variants link into one library.
 */
#ifndef LSTMF_CONFIG_H
#define LSTMF_CONFIG_H

#include <stdint.h>

#ifndef LSTMF_ISA
#error "LSTMF_ISA must be defined by the build (generic, avx2 or avx512)"
#endif

#ifdef LSTMF_DTYPE_F64
typedef double real;
#define LSTMF_DT f64
#else
typedef float real;
#define LSTMF_DT f32
#endif

#define LSTMF_CAT3_(a, b, c) a##_##b##_##c
#define LSTMF_CAT3(a, b, c) LSTMF_CAT3_(a, b, c)
#define FN(name) LSTMF_CAT3(name, LSTMF_ISA, LSTMF_DT)

#define LSTMF_INLINE static inline __attribute__((always_inline))

#endif
