/* demo/threads_cap.c — `--threads N` above the cores this process may use
 * (affinity mask, cgroup quota) is capped there with a warning: more threads
 * than cores only wait for each other (`--threads 1000` once made 2 tokens in
 * 30 s). The library itself honours what a program asks for. */
#include <stdio.h>

#include "demo/commands.h"

int kiln_demo_cap_threads(const char *command, int threads)
{
    int cores = kiln_cpu_cores_available();
    if (threads <= cores) return threads;
    fprintf(stderr, "kiln %s: warning: --threads %d is more than the %d core%s this process may use; using %d\n",
            command, threads, cores, cores == 1 ? "" : "s", cores);
    return cores;
}
