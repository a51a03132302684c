/* bench/ceilings.c — what the host can do at best, measured in the same run
 * as the benchmarks: a streaming read over a buffer well beyond the
 * last-level cache (the roofline's bandwidth), and the f32 FMA peak from the
 * clock and the vector width. */
#include <pthread.h>
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

size_t kiln_bench_llc_bytes(void)
{
#ifdef _SC_LEVEL3_CACHE_SIZE
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0) return (size_t)l3;
#endif
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
    if (f) {
        long kb = 0;
        if (fscanf(f, "%ldK", &kb) == 1 && kb > 0) {
            fclose(f);
            return (size_t)kb * 1024;
        }
        fclose(f);
    }
    return (size_t)32 << 20;
}

typedef struct read_job {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
    pthread_barrier_t *start;
} read_job;

/* Four independent sums so the loop is bound by loads, not by one add chain. */
static void *read_share(void *arg)
{
    read_job *j = arg;
    pthread_barrier_wait(j->start);
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= j->n; i += 4) {
        s0 += j->p[i];
        s1 += j->p[i + 1];
        s2 += j->p[i + 2];
        s3 += j->p[i + 3];
    }
    j->sum = s0 + s1 + s2 + s3;
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
        size_t share = words / (size_t)threads / 4 * 4;
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
            if (colon) mhz = atof(colon + 1);
            break;
        }
    fclose(f);
    int lanes = info->subgroup_size > 1 ? info->subgroup_size : 4; /* generic: SSE2 */
    return mhz * 1e-3 * threads * lanes * 2.0 /* FMA */ * 2.0 /* pipes */;
}
