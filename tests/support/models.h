/* tests/support/models.h — where the tests find the files `make models`
 * fetched (.ci/models.txt lists them: name, file, size, sha256, source).
 *
 * The folder is KILN_MODELS_DIR (tests/run.sh sets it before it makes
 * XDG_CACHE_HOME private), else $XDG_CACHE_HOME/kiln/models, else
 * ~/.cache/kiln/models. A file that is absent or of the wrong size is not
 * used: the caller skips with the reason given (never a silent pass). */
#ifndef KILN_TESTS_MODELS_H
#define KILN_TESTS_MODELS_H

#include <stddef.h>

/* The path of the fetched file NAME (a name of .ci/models.txt), malloc'ed; or
 * NULL with why[0..cap) saying what is missing and how to get it. */
char *kt_model_path(const char *name, char *why, size_t cap);

/* Typical use:
 *     char why[768], *path = kt_model_path("smollm2", why, sizeof why);
 *     if (!path) cr_skip_test("%s", why); */

/* SmolLM2-135M-Instruct.Q4_1.gguf ("smollm2"), or NULL when it is not
 * fetched (kt_model_path gives the reason); the path lives as long as the
 * test process. */
const char *kt_smollm2_path(void);

#endif
