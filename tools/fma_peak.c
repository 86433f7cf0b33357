/* One core's peak FMA rate, the ceiling to read the benchmark's GFLOP/s
 * against (numpy's sgemm, which `lstm-fast bench` prints, is a practical
 * ceiling a little below it).
 *
 * Twelve independent accumulator chains, more than an FMA unit's latency
 * times its issue width on current x86 cores, so the loop runs at the FMA
 * throughput: float32 lanes, 512-bit (where the CPU has AVX-512) and
 * 256-bit. A float64 FMA does the same work on half the lanes.
 *
 *   gcc -O2 -mavx512f tools/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak [iterations]
 *
 * Multiply by the number of cores for a machine's ceiling. On the AMD EPYC
 * (Zen 4) development VM: 117.5 GFLOP/s a core at either width (Zen 4
 * issues a 512-bit FMA as two 256-bit halves).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define FMA12(REG, A, B)                                                       \
    "vfmadd231ps %%" A ", %%" B ", %%" REG "0\n\t"                             \
    "vfmadd231ps %%" A ", %%" B ", %%" REG "1\n\t"                             \
    "vfmadd231ps %%" A ", %%" B ", %%" REG "2\n\t"                             \
    "vfmadd231ps %%" A ", %%" B ", %%" REG "3\n\t"                             \
    "vfmadd231ps %%" A ", %%" B ", %%" REG "4\n\t"                             \
    "vfmadd231ps %%" A ", %%" B ", %%" REG "5\n\t"                             \
    "vfmadd231ps %%" A ", %%" B ", %%" REG "6\n\t"                             \
    "vfmadd231ps %%" A ", %%" B ", %%" REG "7\n\t"                             \
    "vfmadd231ps %%" A ", %%" B ", %%" REG "8\n\t"                             \
    "vfmadd231ps %%" A ", %%" B ", %%" REG "9\n\t"                             \
    "vfmadd231ps %%" A ", %%" B ", %%" REG "10\n\t"                            \
    "vfmadd231ps %%" A ", %%" B ", %%" REG "11\n\t"

#define CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
                 "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13"

/* time_<REG>(n): seconds for n iterations of 12 FMAs on REG (ymm or zmm)
 * registers, the best of five runs. The operands are zeros: no
 * subnormals, no overflow. */
#define TIME_FMA(REG)                                                          \
    static double time_##REG(long n) {                                         \
        double best = 1e30;                                                    \
        for (int run = 0; run < 5; run++) {                                    \
            long left = n;                                                     \
            const double t0 = now();                                           \
            __asm__ volatile("vxorps %%" #REG "12, %%" #REG "12, %%" #REG "12\n\t" \
                             "vxorps %%" #REG "13, %%" #REG "13, %%" #REG "13\n\t" \
                             "1:\n\t" FMA12(#REG, #REG "12", #REG "13")        \
                             "dec %0\n\t"                                       \
                             "jnz 1b\n\t"                                       \
                             "vzeroupper"                                      \
                             : "+r"(left) : : CLOBBERS);                       \
            const double t = now() - t0;                                       \
            if (t < best) best = t;                                            \
        }                                                                      \
        return best;                                                           \
    }

TIME_FMA(ymm)
#ifdef __AVX512F__
TIME_FMA(zmm)
#endif

int main(int argc, char **argv) {
    /* Loop iterations per run (argument 1): 12 FMAs each; the default, 600 M
     * FMAs a run, takes about 0.1-0.3 s. */
    const long n = argc > 1 ? atol(argv[1]) : 50000000;
    if (n < 1) {
        fprintf(stderr, "usage: %s [iterations >= 1]\n", argv[0]);
        return 2;
    }
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("fma")) {
        puts("this CPU has no FMA instructions");
        return 1;
    }
    /* An FMA counts two flops per lane. */
    const double ymm = 12.0 * n * 8 * 2 / time_ymm(n) / 1e9;
    printf("256-bit FMA: %6.1f GFLOP/s float32, %6.1f float64 (one core)\n", ymm, ymm / 2);
#ifdef __AVX512F__
    if (__builtin_cpu_supports("avx512f")) {
        const double zmm = 12.0 * n * 16 * 2 / time_zmm(n) / 1e9;
        printf("512-bit FMA: %6.1f GFLOP/s float32, %6.1f float64 (one core)\n", zmm, zmm / 2);
    }
#endif
    return 0;
}
