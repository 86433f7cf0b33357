/* OpenMP when the compiler has it; a single thread otherwise. */
#ifndef LSTMF_OMP_COMPAT_H
#define LSTMF_OMP_COMPAT_H

#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_max_threads(void) { return 1; }
static inline void omp_set_num_threads(int n) { (void)n; }
static inline double omp_get_wtime(void) { return 0; }
#endif

#endif
