/* kernels/cpu/cpu_features.c — cpuid/xgetbv feature detection and the CPU's name. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kernels/cpu/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void)
{
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static void detect(kiln_cpu_features *f)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int osxsave = (c >> 27) & 1;
    f->fma = (c >> 12) & 1;
    f->f16c = (c >> 29) & 1;
    int avx = (c >> 28) & 1;
    if (osxsave) {
        unsigned long long xcr0 = read_xcr0();
        f->os_avx = avx && (xcr0 & 0x6) == 0x6;           /* xmm + ymm state */
        f->os_avx512 = f->os_avx && (xcr0 & 0xe0) == 0xe0; /* opmask + zmm state */
    }
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f->avx2 = (b >> 5) & 1;
        f->avx512f = (b >> 16) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
        f->avx512vnni = (c >> 11) & 1;
    }
}
#else
static void detect(kiln_cpu_features *f) { (void)f; }
#endif

static kiln_cpu_features features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;
static void features_init(void) { detect(&features); }

const kiln_cpu_features *kiln_cpu_features_get(void)
{
    pthread_once(&features_once, features_init);
    return &features;
}

int kiln_cpu_isa_supported(kiln_isa isa)
{
    const kiln_cpu_features *f = kiln_cpu_features_get();
    switch (isa) {
    case KILN_ISA_GENERIC: return 1;
    case KILN_ISA_AVX2: return f->os_avx && f->avx2 && f->fma && f->f16c;
    case KILN_ISA_AVX512:
        /* VNNI is used when present but not required: the kernels check __AVX512VNNI__
         * at compile time, so the avx512 bundle is built without it (see cpu.cmake). */
        return f->os_avx512 && f->avx512f && f->avx512bw && f->avx512vl && f->avx2 && f->fma && f->f16c;
    default: return 0;
    }
}

kiln_isa kiln_cpu_best_isa(void)
{
    if (kiln_cpu_isa_supported(KILN_ISA_AVX512)) return KILN_ISA_AVX512;
    if (kiln_cpu_isa_supported(KILN_ISA_AVX2)) return KILN_ISA_AVX2;
    return KILN_ISA_GENERIC;
}

kiln_isa kiln_cpu_isa_from_name(const char *name)
{
    if (!name) return KILN_ISA_NONE;
    if (!strcasecmp(name, "generic")) return KILN_ISA_GENERIC;
    if (!strcasecmp(name, "avx2")) return KILN_ISA_AVX2;
    if (!strcasecmp(name, "avx512")) return KILN_ISA_AVX512;
    return KILN_ISA_NONE;
}

void kiln_cpu_features_string(char *buf, size_t cap)
{
    const kiln_cpu_features *f = kiln_cpu_features_get();
    const struct { int on; const char *name; } list[] = {
        {f->avx2 && f->os_avx, "avx2"}, {f->fma, "fma"}, {f->f16c, "f16c"},
        {f->avx512f && f->os_avx512, "avx512f"}, {f->avx512bw && f->os_avx512, "avx512bw"},
        {f->avx512vl && f->os_avx512, "avx512vl"}, {f->avx512vnni && f->os_avx512, "avx512vnni"},
    };
    size_t used = 0;
    if (cap) buf[0] = '\0';
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        if (!list[i].on) continue;
        int n = snprintf(buf + used, cap - used, "%s%s", used ? " " : "", list[i].name);
        if (n < 0 || (size_t)n >= cap - used) break;
        used += (size_t)n;
    }
}

void kiln_cpu_model_name(char *buf, size_t cap)
{
    snprintf(buf, cap, "cpu");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10)) continue;
        char *colon = strchr(line, ':');
        if (!colon) break;
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(buf, cap, "%s", colon);
        break;
    }
    fclose(f);
}
