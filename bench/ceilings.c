/* bench/ceilings.c — what the host can do at best, measured in the same run
 * as the benchmarks: a streaming read over a buffer well beyond the
 * last-level cache (the roofline's bandwidth), and the f32 FMA peak from the
 * clock and the vector width. */
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"

double kiln_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double kiln_bench_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* sysfs first: in a VM, sysconf's cpuid-derived figure can be the whole host
 * chip's L3 (256 MiB on an EPYC whose guest sees 32 MiB). */
size_t kiln_bench_llc_bytes(void)
{
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
    if (f) {
        long kb = 0;
        int ok = fscanf(f, "%ldK", &kb) == 1 && kb > 0;
        fclose(f);
        if (ok) return (size_t)kb * 1024;
    }
#ifdef _SC_LEVEL3_CACHE_SIZE
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0) return (size_t)l3;
#endif
    return (size_t)32 << 20;
}

typedef struct read_job {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
    pthread_barrier_t *start;
} read_job;

/* Four independent sums so the loop is bound by loads, not by one add chain. */
static uint64_t sum_words(const uint64_t *p, size_t n)
{
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= n; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    return s0 + s1 + s2 + s3;
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
/* The same with 32-byte loads, as the anchors' "plain AVX2 read stream". */
__attribute__((target("avx2"))) static uint64_t sum_words_avx2(const uint64_t *p, size_t n)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_add_epi64(s0, _mm256_load_si256((const __m256i *)(p + i)));
        s1 = _mm256_add_epi64(s1, _mm256_load_si256((const __m256i *)(p + i + 4)));
        s2 = _mm256_add_epi64(s2, _mm256_load_si256((const __m256i *)(p + i + 8)));
        s3 = _mm256_add_epi64(s3, _mm256_load_si256((const __m256i *)(p + i + 12)));
    }
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3)));
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + sum_words(p + i, n - i);
}
#define HAVE_AVX2_READ 1
#else
#define HAVE_AVX2_READ 0
#endif

static void *read_share(void *arg)
{
    read_job *j = arg;
    pthread_barrier_wait(j->start);
#if HAVE_AVX2_READ
    if (__builtin_cpu_supports("avx2")) {
        j->sum = sum_words_avx2(j->p, j->n);
        return NULL;
    }
#endif
    j->sum = sum_words(j->p, j->n);
    return NULL;
}

double kiln_bench_host_read_gbps(int threads)
{
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;
    size_t bytes = 8 * kiln_bench_llc_bytes();
    if (bytes < ((size_t)256 << 20)) bytes = (size_t)256 << 20;
    size_t words = bytes / 8;
    uint64_t *buf = aligned_alloc(64, words * 8);
    if (!buf) return 0.0;
    for (size_t i = 0; i < words; i++) buf[i] = i; /* touch every page */
    double best = 0.0;
    for (int rep = 0; rep < 3; rep++) {
        pthread_t tid[256];
        read_job jobs[256];
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
        size_t share = words / (size_t)threads / 16 * 16; /* 128-byte multiples keep 32-byte alignment */
        int started = 0;
        for (int t = 0; t < threads; t++) {
            jobs[t] = (read_job){buf + (size_t)t * share, share, 0, &start};
            if (pthread_create(&tid[t], NULL, read_share, &jobs[t])) break;
            started++;
        }
        if (started < threads) { /* cannot measure with fewer threads than asked */
            for (int t = started; t < threads; t++) pthread_barrier_wait(&start);
            for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
            pthread_barrier_destroy(&start);
            break;
        }
        double t0 = kiln_bench_now();
        pthread_barrier_wait(&start);
        uint64_t total = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            total += jobs[t].sum;
        }
        double dt = kiln_bench_now() - t0;
        pthread_barrier_destroy(&start);
        if (total == 42) fprintf(stderr, " "); /* keep the sums alive */
        double gbps = (double)share * 8.0 * threads / dt / 1e9;
        if (gbps > best) best = gbps;
    }
    free(buf);
    return best;
}

double kiln_bench_cpu_peak_gflops(const kiln_device_info *info, int threads)
{
    if (info->backend != KILN_BACKEND_CPU) return 0.0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0.0;
    char line[256];
    double mhz = 0.0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "cpu MHz", 7)) {
            char *colon = strchr(line, ':');
            char *end;
            double v = colon ? strtod(colon + 1, &end) : 0.0;
            /* a clock we can read, or none (the peak is then unknown, not wrong) */
            if (colon && end != colon + 1 && (*end == '\n' || *end == 0) && isfinite(v) && v > 0 && v < 1e6)
                mhz = v;
            break;
        }
    fclose(f);
    int lanes = info->subgroup_size > 1 ? info->subgroup_size : 4; /* generic: SSE2 */
    return mhz * 1e-3 * threads * lanes * 2.0 /* FMA */ * 2.0 /* pipes */;
}
