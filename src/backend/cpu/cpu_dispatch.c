/* Choosing kernels by CPU features, once per backend. A feature counts only when the CPU reports it (CPUID) and
 * the OS saves its registers on context switches (XGETBV): a kernel using ZMM registers on an OS that does not
 * preserve them would corrupt other threads' state silently. */
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

enum variant { V_SCALAR, V_AVX2, V_AVX512, V_AVX512BF16, V_NEON, V_WASM, V_COUNT };

static const char *const variant_names[] = {"scalar", "avx2", "avx512", "avx512bf16", "neon", "wasm"};
_Static_assert(sizeof variant_names / sizeof variant_names[0] == V_COUNT, "variant names");

#if defined(__x86_64__)
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

struct x86_features {
    bool avx2, avx512, avx512bf16, amd;
};

static struct x86_features x86_detect(void)
{
    struct x86_features f = {0};
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
    f.amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163; /* "AuthenticAMD" */
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12), f16c = c & (1u << 29);
    if (!osxsave || !avx) return f;
    uint64_t xcr0 = xgetbv0();
    bool ymm_state = (xcr0 & 0x6) == 0x6;           /* SSE and AVX state */
    bool zmm_state = (xcr0 & 0xe6) == 0xe6;         /* + opmask, ZMM0-15 upper halves, ZMM16-31 */
    if (!ymm_state || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
    bool avx2 = b & (1u << 5), avx512f = b & (1u << 16), avx512dq = b & (1u << 17), avx512bw = b & (1u << 30),
         avx512vl = b & (1u << 31), avx512vnni = c & (1u << 11);
    f.avx2 = avx2 && fma && f16c;
    f.avx512 = f.avx2 && zmm_state && avx512f && avx512dq && avx512bw && avx512vl && avx512vnni;
    if (f.avx512 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512bf16 = a & (1u << 5);
    return f;
}
#endif

static bool usable(enum variant v)
{
    switch (v) {
    case V_SCALAR: return true;
#if defined(__x86_64__)
    case V_AVX2: return x86_detect().avx2;
    case V_AVX512: return x86_detect().avx512;
    case V_AVX512BF16: return x86_detect().avx512bf16;
#elif defined(__aarch64__)
    case V_NEON: return true; /* Advanced SIMD is part of AArch64 */
#elif defined(__wasm_simd128__)
    case V_WASM: return true; /* built with -msimd128: a module with SIMD does not load without SIMD support */
#endif
    default: return false;
    }
}

/* Each variant builds on the ones before it: avx512 leaves to avx2 what it does not override. */
static void apply(struct cpu_kernels *k, enum variant v)
{
    switch (v) {
#if defined(__x86_64__)
    case V_AVX2: cpu_kernels_avx2(k); break;
    case V_AVX512: cpu_kernels_avx512(k); break;
    case V_AVX512BF16: cpu_kernels_avx512bf16(k); break;
#elif defined(__aarch64__)
    case V_NEON: cpu_kernels_neon(k); break;
#elif defined(__wasm_simd128__)
    case V_WASM: cpu_kernels_wasm(k); break;
#endif
    default: break;
    }
}

/* Whether the best kernels include variant v. VDPBF16PS retires one 512-bit instruction every ~2.2 cycles on
 * Sapphire Rapids (measured: 1.3 G/s against 5.4 G/s for FMA at 2.9 GHz), so there FMA on widened bf16 weights
 * does twice the multiply-adds and keeps f32 activations; on Zen 4 it matches FMA's 512-bit rate at twice the
 * work, so the bf16 products are chosen there. */
static bool preferred(enum variant v)
{
#if defined(__x86_64__)
    if (v == V_AVX512BF16) return x86_detect().amd;
#endif
    (void)v;
    return true;
}

bool cpu_kernels_init(struct cpu_kernels *k, const char *isa)
{
    cpu_kernels_ref(k);
    enum variant want = V_COUNT;
    if (isa) {
        for (int v = 0; v < V_COUNT; v++)
            if (strcmp(isa, variant_names[v]) == 0) want = (enum variant)v;
        if (want == V_COUNT || !usable(want)) return false;
    }
    for (int v = V_SCALAR + 1; v < V_COUNT && (want == V_COUNT || v <= (int)want); v++) {
        if (!usable((enum variant)v) || (want == V_COUNT && !preferred((enum variant)v))) continue;
        apply(k, (enum variant)v);
        k->isa = variant_names[v];
    }
    return true;
}

int cpu_kernels_variants(const char **names, bool *ok, int cap)
{
    int n = 0;
    for (int v = V_COUNT - 1; v >= 0 && n < cap; v--) {
#if defined(__x86_64__)
        if (v != V_SCALAR && v != V_AVX2 && v != V_AVX512 && v != V_AVX512BF16) continue;
#elif defined(__aarch64__)
        if (v != V_SCALAR && v != V_NEON) continue;
#elif defined(__wasm_simd128__)
        if (v != V_SCALAR && v != V_WASM) continue;
#else
        if (v != V_SCALAR) continue;
#endif
        names[n] = variant_names[v];
        ok[n] = usable((enum variant)v);
        n++;
    }
    return n;
}
