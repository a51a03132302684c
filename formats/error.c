/* formats/error.c — status names and the thread-local last-error message
 * (include/kiln/error.h). Here, in the lowest folder with code, because every
 * folder above reports through it: formats/, the generator that kiln-gen
 * links without libkiln, the kernels, the runtime. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kiln/error.h"

static _Thread_local char last_error[4096];

const char *kiln_last_error(void) { return last_error; }

void kiln_clear_error(void) { last_error[0] = '\0'; }

kiln_status kiln_fail(kiln_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

kiln_status kiln_fail_prefix(kiln_status s, const char *fmt, ...)
{
    char prefix[1024], old[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    /* prefix, ": ", then as much of the old message as fits */
    size_t n = strlen(prefix);
    if (n > sizeof last_error - 3) n = sizeof last_error - 3;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t room = sizeof last_error - n - 3, m = strlen(old);
    if (m > room) m = room;
    memcpy(last_error + n + 2, old, m);
    last_error[n + 2 + m] = '\0';
    return s;
}

const char *kiln_status_name(kiln_status s)
{
    static const char *const names[] = {
        [KILN_OK] = "ok",
        [KILN_ERR_INVALID_ARG] = "invalid argument",
        [KILN_ERR_SHAPE] = "shape mismatch",
        [KILN_ERR_UNSUPPORTED] = "unsupported",
        [KILN_ERR_UNAVAILABLE] = "unavailable",
        [KILN_ERR_OUT_OF_MEMORY] = "out of memory",
        [KILN_ERR_COMPILE] = "kernel compile failed",
        [KILN_ERR_DEVICE] = "device error",
        [KILN_ERR_IO] = "i/o error",
        [KILN_ERR_FORMAT] = "malformed file",
        [KILN_ERR_INTERNAL] = "internal error",
    };
    if ((unsigned)s >= sizeof names / sizeof names[0] || !names[s]) return "unknown status";
    return names[s];
}

const char *kiln_version(void) { return KILN_VERSION_STRING; }
