/* bench/busy.c — N spinning processes as background load (see busy.h).
 * Processes, not threads: the load is the OS scheduler's business, exactly
 * like a browser or a compiler beside the program, and no state is shared. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/busy.h"

static void spin_forever(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark */
    volatile unsigned long x = 0;
    for (;;) x++;
}

int kiln_busy_start(kiln_busy *b, int n)
{
    b->n = 0;
    b->pids = n > 0 ? calloc((size_t)n, sizeof *b->pids) : NULL;
    if (n > 0 && !b->pids) return -1;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            int e = errno;
            kiln_busy_stop(b);
            errno = e;
            return -1;
        }
        if (pid == 0) spin_forever();
        b->pids[b->n++] = pid;
    }
    return 0;
}

void kiln_busy_stop(kiln_busy *b)
{
    for (int i = 0; i < b->n; i++) kill(b->pids[i], SIGKILL);
    for (int i = 0; i < b->n; i++) waitpid(b->pids[i], NULL, 0);
    free(b->pids);
    b->pids = NULL;
    b->n = 0;
}
