/* Optimizer steps (optim.h). Compiled with -ffp-contract=off: a fused
 * a*b + c would round once where NumPy rounds twice. The arrays do not
 * overlap (restrict), which lets -O3 vectorize the loop without runtime
 * alias checks: a scalar loop would lose the point of a fused step. */
#include <math.h>

#include "optim.h"
#include "lstmf.h"

#define ADAM_STEP(real, sqrt_fn)                                                   \
    do {                                                                           \
        real *restrict p = params, *restrict mm = m, *restrict vv = v;             \
        const real *restrict g = grad;                                             \
        const real b1_ = (real)b1, c1 = (real)(1.0 - b1), b2_ = (real)b2;          \
        const real c2 = (real)(1.0 - b2), eps_ = (real)eps, lr_ = (real)lr;        \
        for (int64_t i = 0; i < n; i++) {                                          \
            const real gi = g[i];                                                  \
            const real mi = mm[i] * b1_ + gi * c1;                                 \
            const real vi = vv[i] * b2_ + (gi * gi) * c2;                          \
            mm[i] = mi;                                                            \
            vv[i] = vi;                                                            \
            p[i] -= mi / (sqrt_fn(vi) + eps_) * lr_;                               \
        }                                                                          \
    } while (0)

int lstmf_adam_step(int dtype, int64_t n, void *params, const void *grad, void *m, void *v,
                    double b1, double b2, double eps, double lr) {
    if (n < 0) return LSTMF_EINVAL;
    if (dtype == LSTMF_F32) ADAM_STEP(float, sqrtf);
    else if (dtype == LSTMF_F64) ADAM_STEP(double, sqrt);
    else return LSTMF_EINVAL;
    return LSTMF_OK;
}
