/* tests/support/models.c — the lookup of fetched models (models.h). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "support/models.h"

#define SMOLLM2 "SmolLM2-135M-Instruct.Q4_1.gguf"

const char *kt_smollm2_path(void)
{
    static char path[4096];
    const char *env = getenv("KILN_SMOLLM2"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (env && *env) return access(env, R_OK) == 0 ? env : NULL;
    if (xdg && *xdg && snprintf(path, sizeof path, "%s/kiln/models/" SMOLLM2, xdg) < (int)sizeof path &&
        access(path, R_OK) == 0)
        return path;
    if (home && *home && snprintf(path, sizeof path, "%s/.cache/kiln/models/" SMOLLM2, home) < (int)sizeof path &&
        access(path, R_OK) == 0)
        return path;
    return NULL;
}
