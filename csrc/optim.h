/* Optimizer steps over a flat parameter buffer (lstm_fast/_optimizers.py).
 * Plain C at the baseline ISA: a step reads and writes each parameter once,
 * so memory, not arithmetic, sets its speed. */
#ifndef LSTMF_OPTIM_H
#define LSTMF_OPTIM_H

#include <stdint.h>

/* One Adam step on n parameters of dtype (LSTMF_F32 or LSTMF_F64), in
 * place, with scikit-learn's form of the update:
 *   m = b1*m + (1 - b1)*g,  v = b2*v + (1 - b2)*g^2,
 *   p -= lr * m / (sqrt(v) + eps)
 * (lr already holds the bias corrections). Every product, sum, quotient
 * and square root is rounded to the dtype, in the order written, with no
 * fused multiply-add: the same bits as NumPy's ufuncs doing it in twelve
 * passes. LSTMF_OK, or LSTMF_EINVAL for an unknown dtype or n < 0. */
int lstmf_adam_step(int dtype, int64_t n, void *params, const void *grad, void *m, void *v,
                    double b1, double b2, double eps, double lr);

#endif
