/* tests/support/models.h — where the tests find real models fetched by
 * `make models` (they are not in the repository). */
#ifndef KILN_TESTS_SUPPORT_MODELS_H
#define KILN_TESTS_SUPPORT_MODELS_H

/* SmolLM2-135M-Instruct.Q4_1.gguf: $KILN_SMOLLM2 when set, else
 * $XDG_CACHE_HOME/kiln/models/, else ~/.cache/kiln/models/ (tests/run.sh
 * points XDG_CACHE_HOME at a fresh kernel cache, so the last one is what a
 * plain `make test` finds). NULL when none is readable. */
const char *kt_smollm2_path(void);

#endif
