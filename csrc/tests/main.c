/* lstmf_tests [group ...]: runs the named test groups (all when none is
 * named) and exits non-zero if any check failed. ctest runs each group as
 * its own test (csrc/tests/CMakeLists.txt). */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "tests.h"

/* The size tests ask for allocations no machine has: under AddressSanitizer
 * those must fail with NULL (LSTMF_ENOMEM), as malloc does, not abort. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static const struct {
    const char *name;
    void (*run)(void);
} groups[] = {
    {"forward", test_forward}, {"backward", test_backward},
    {"backward_without_dx", test_backward_without_dx},
    {"forward_without_y", test_forward_without_y}, {"isa_agree", test_isa_agree},
    {"stream", test_stream},   {"row_passes", test_row_passes},
    {"invalid", test_invalid}, {"sizes", test_sizes},
    {"registry", test_registry}, {"call_bytes", test_call_bytes},
    {"dropout", test_dropout}, {"reduced", test_reduced},
};
#define N_GROUPS (int)(sizeof groups / sizeof groups[0])

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        int known = 0;
        for (int g = 0; g < N_GROUPS; g++) known |= strcmp(argv[i], groups[g].name) == 0;
        if (!known) {
            fprintf(stderr, "unknown test group %s; groups:", argv[i]);
            for (int g = 0; g < N_GROUPS; g++) fprintf(stderr, " %s", groups[g].name);
            fprintf(stderr, "\n");
            return 2;
        }
    }
    for (int g = 0; g < N_GROUPS; g++) {
        int wanted = argc == 1;
        for (int i = 1; i < argc; i++) wanted |= strcmp(argv[i], groups[g].name) == 0;
        if (!wanted) continue;
        const int64_t before = test_failures, checks = test_checks;
        groups[g].run();
        printf("%-10s %6lld checks, %lld failed\n", groups[g].name,
               (long long)(test_checks - checks), (long long)(test_failures - before));
    }
    printf("total      %6lld checks, %lld failed\n", (long long)test_checks,
           (long long)test_failures);
    return test_failures ? 1 : 0;
}
