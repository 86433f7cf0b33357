/* ISA selection: the kernel variants this build compiled, which of them
 * the CPU runs (cpuid), and the one chosen, once, from LSTM_FAST_ISA's
 * request; and the CPU's L1 data cache, which sizes a single row's passes
 * over the weights (step.h: row_panels).
 */
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h> /* sysconf */
#endif

#include "kernels.h"
#include "internal.h"

#define DECLARE_VARIANTS(isa)                       \
    extern const lstmf_variant lstmf_variant_##isa##_f32; \
    extern const lstmf_variant lstmf_variant_##isa##_f64;

DECLARE_VARIANTS(generic)
#ifdef LSTMF_HAVE_AVX2
DECLARE_VARIANTS(avx2)
#endif
#ifdef LSTMF_HAVE_AVX512
DECLARE_VARIANTS(avx512)
#endif

static const lstmf_variant *const variants[LSTMF_N_ISA][2] = {
    {&lstmf_variant_generic_f32, &lstmf_variant_generic_f64},
#ifdef LSTMF_HAVE_AVX2
    {&lstmf_variant_avx2_f32, &lstmf_variant_avx2_f64},
#else
    {NULL, NULL},
#endif
#ifdef LSTMF_HAVE_AVX512
    {&lstmf_variant_avx512_f32, &lstmf_variant_avx512_f64},
#else
    {NULL, NULL},
#endif
};

static const char *const isa_names[LSTMF_N_ISA] = {"generic", "avx2", "avx512"};
static int active_isa = -1;

const char *lstmf_isa_name(int isa) {
    return isa >= 0 && isa < LSTMF_N_ISA ? isa_names[isa] : "unknown";
}

int lstmf_isa_compiled(int isa) {
    return isa >= 0 && isa < LSTMF_N_ISA && variants[isa][0] != NULL;
}

int lstmf_isa_supported(int isa) {
    if (isa == LSTMF_ISA_GENERIC) return 1;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (isa == LSTMF_ISA_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isa == LSTMF_ISA_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("fma");
#endif
    return 0;
}

/* Dot products: only the avx512 variant has kernels for them
 * (reduced/product.c). dot_mask -1: every supported one. dot_bits: those
 * the active ISA has and the CPU runs, worked out when the ISA is chosen
 * (lstmf_isa_init), as every reduced product asks for them. */
static int dot_mask = -1, dot_bits = 0;

static int dot_bits_of(int isa) {
    int bits = 0;
#if defined(LSTMF_HAVE_AVX512) && defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    if (isa == LSTMF_ISA_AVX512) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512vnni")) bits |= LSTMF_DOT_VNNI;
        if (__builtin_cpu_supports("avx512bf16")) bits |= LSTMF_DOT_BF16;
    }
#endif
    (void)isa;
    return bits;
}

int lstmf_isa_init(const char *requested) {
    int ceiling = LSTMF_N_ISA - 1, status = LSTMF_OK;
    if (requested && *requested) {
        ceiling = -1;
        for (int i = 0; i < LSTMF_N_ISA; i++)
            if (strcmp(requested, isa_names[i]) == 0) ceiling = i;
        if (ceiling < 0) {
            ceiling = LSTMF_N_ISA - 1;
            status = LSTMF_EINVAL;
        }
    }
    int chosen = LSTMF_ISA_GENERIC;
    for (int i = 0; i <= ceiling; i++)
        if (lstmf_isa_compiled(i) && lstmf_isa_supported(i)) chosen = i;
    if (requested && *requested && status == LSTMF_OK && chosen != ceiling) status = LSTMF_EINVAL;
    __atomic_store_n(&dot_bits, dot_bits_of(chosen), __ATOMIC_RELAXED);
    active_isa = chosen;
    return status;
}

int lstmf_isa_active(void) {
    if (active_isa < 0) lstmf_isa_init(NULL);
    return active_isa;
}

const lstmf_variant *lstmf_variant_of(int dtype) { return variants[lstmf_isa_active()][dtype]; }

int lstmf_dot_supported(void) {
    lstmf_isa_active(); /* chooses the ISA, and dot_bits, on first use */
    return __atomic_load_n(&dot_bits, __ATOMIC_RELAXED);
}

int lstmf_dot_active(void) {
    const int mask = __atomic_load_n(&dot_mask, __ATOMIC_RELAXED);
    return lstmf_dot_supported() & mask;
}

int lstmf_dot_init(int mask) {
    if (mask != -1 && (mask & ~lstmf_dot_supported())) return LSTMF_EINVAL;
    __atomic_store_n(&dot_mask, mask, __ATOMIC_RELAXED);
    return LSTMF_OK;
}

/* -1: not read yet. Reading it twice is harmless (the same value). */
static int64_t l1d_bytes = -1;

int64_t lstmf_l1d_bytes(void) {
    int64_t bytes = __atomic_load_n(&l1d_bytes, __ATOMIC_RELAXED);
    if (bytes >= 0) return bytes;
#ifdef _SC_LEVEL1_DCACHE_SIZE
    bytes = sysconf(_SC_LEVEL1_DCACHE_SIZE);
#endif
    if (bytes < 0) bytes = 0;
    __atomic_store_n(&l1d_bytes, bytes, __ATOMIC_RELAXED);
    return bytes;
}

void lstmf_set_l1d_bytes(int64_t bytes) {
    __atomic_store_n(&l1d_bytes, bytes < 0 ? -1 : bytes, __ATOMIC_RELAXED);
}
