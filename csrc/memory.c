/* The count behind memory.h's lstmf_alloc_bytes_total. */
#include "memory.h"
#include "internal.h"

int64_t lstmf_alloc_bytes_total;

int64_t lstmf_scratch_bytes_allocated(void) {
    return __atomic_load_n(&lstmf_alloc_bytes_total, __ATOMIC_RELAXED);
}
