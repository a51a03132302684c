/* bench/busy.h — background load for `kiln bench --busy N`: N processes that
 * spin on a core each while the measurement runs, so decode speed can be
 * measured on a machine that is doing other work (the normal case). */
#ifndef KILN_BENCH_BUSY_H
#define KILN_BENCH_BUSY_H
#include <sys/types.h>

typedef struct kiln_busy {
    pid_t *pids;
    int n;
} kiln_busy;

/* Starts n spinning processes (they die with this one). 0 or -1 with errno. */
int kiln_busy_start(kiln_busy *b, int n);
/* Kills and reaps them. */
void kiln_busy_stop(kiln_busy *b);

#endif
