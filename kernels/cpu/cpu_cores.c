/* kernels/cpu/cpu_cores.c — how many cores this process may actually use:
 * the CPUs in its affinity mask (taskset, cpusets), further limited by a
 * cgroup v2 CPU quota (cpu.max "QUOTA PERIOD", containers' --cpus). More
 * threads than that only wait for each other. */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kiln/kiln.h"

/* The quota of the cgroup this process is in, in whole cores (rounded up),
 * or 0 when there is none (or it cannot be read: no limit is assumed). */
static int cgroup_quota_cores(void)
{
    char path[512] = "/sys/fs/cgroup", line[512];
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f) { /* cgroup v2: a single line "0::/some/path" */
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "0::", 3)) {
                line[strcspn(line, "\n")] = '\0';
                if (strcmp(line + 3, "/")) snprintf(path, sizeof path, "/sys/fs/cgroup%.400s", line + 3);
            }
        fclose(f);
    }
    /* The limit may sit on any ancestor: the smallest one wins. */
    int best = 0;
    for (;;) {
        char file[600];
        snprintf(file, sizeof file, "%s/cpu.max", path);
        FILE *m = fopen(file, "r");
        if (m) {
            char quota[32];
            long long period = 0;
            if (fscanf(m, "%31s %lld", quota, &period) == 2 && strcmp(quota, "max") && period > 0) {
                long long q = 0;
                if (sscanf(quota, "%lld", &q) == 1 && q > 0) {
                    long long cores = (q + period - 1) / period;
                    if (cores < 1) cores = 1;
                    if (!best || cores < best) best = cores > 1024 ? 1024 : (int)cores;
                }
            }
            fclose(m);
        }
        char *slash = strrchr(path, '/');
        if (!slash || slash == path || !strcmp(path, "/sys/fs/cgroup")) break;
        *slash = '\0';
    }
    return best;
}

int kiln_cpu_cores_available(void)
{
    int n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online > 0 ? (int)online : 1;
    }
    int quota = cgroup_quota_cores();
    if (quota > 0 && quota < n) n = quota;
    return n;
}
