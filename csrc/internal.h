/* Library internals that the kernels and the C tests share, outside the
 * public API (rnn.h): nothing here is for the Python module.
 */
#ifndef LSTMF_INTERNAL_H
#define LSTMF_INTERNAL_H

#include <stdint.h>

/* Bytes of scratch the library has allocated since the process started:
 * the difference over one call is what lstmf_call_bytes reports as its
 * workspace_bytes. */
int64_t lstmf_scratch_bytes_allocated(void);

#endif
