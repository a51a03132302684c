/* kiln/error.h — how kiln records an error: the message kiln_last_error()
 * returns, set by the function that fails.
 *
 * Every layer of kiln reports errors this way (formats, the generator, the
 * kernels, the runtime), and so may code that extends it (a kiln_chooser):
 * `return kiln_fail(KILN_ERR_SHAPE, "x has %d rows", n);`. The message is per
 * thread, so threads failing at once do not overwrite each other's. */
#ifndef KILN_ERROR_H
#define KILN_ERROR_H

#include "kiln/kiln.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KILN_PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define KILN_PRINTF_LIKE(f, a)
#endif

/* Record a printf-style message for kiln_last_error() and return s. */
kiln_status kiln_fail(kiln_status s, const char *fmt, ...) KILN_PRINTF_LIKE(2, 3);
/* Prefix the thread's last error with context ("loading x: <old>"); returns s. */
kiln_status kiln_fail_prefix(kiln_status s, const char *fmt, ...) KILN_PRINTF_LIKE(2, 3);
/* Forget the thread's last error (kiln_last_error() returns ""). */
void kiln_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
