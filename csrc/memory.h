/* Aligned scratch allocation for packed panels and workspaces. */
#ifndef LSTMF_MEMORY_H
#define LSTMF_MEMORY_H

#include <stdint.h>
#include <stdlib.h>

#define LSTMF_ALIGN 64

static inline void *lstmf_alloc(int64_t bytes) {
    if (bytes <= 0) bytes = LSTMF_ALIGN;
#ifdef _WIN32
    return _aligned_malloc((size_t)bytes, LSTMF_ALIGN);
#else
    void *p = NULL;
    return posix_memalign(&p, LSTMF_ALIGN, (size_t)bytes) == 0 ? p : NULL;
#endif
}

static inline void lstmf_free(void *p) {
#ifdef _WIN32
    _aligned_free(p);
#else
    free(p);
#endif
}

#endif
