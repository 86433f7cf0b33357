/* The test groups main.c can run (one ctest test each). */
#ifndef LSTMF_TESTS_H
#define LSTMF_TESTS_H

void test_forward(void);   /* test_forward.c */
void test_backward(void);  /* test_backward.c */
void test_backward_without_dx(void); /* test_backward.c */
void test_forward_without_y(void); /* test_backward.c */
void test_isa_agree(void); /* test_isa_agree.c */
void test_stream(void);    /* test_stream.c */
void test_row_passes(void); /* test_row_passes.c */
void test_invalid(void);   /* test_invalid.c */
void test_sizes(void);     /* test_sizes.c */
void test_registry(void);  /* test_call_bytes.c */
void test_call_bytes(void); /* test_call_bytes.c */
void test_dropout(void);   /* test_dropout.c */
void test_reduced(void);   /* test_reduced.c */


#include "runner.h"

/* Every gradient of case c by central differences of the reference
 * forward (test_backward.c). */
void fd_grads(tcase *c, grad_out *g);

#endif
