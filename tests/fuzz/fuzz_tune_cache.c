/* tests/fuzz/fuzz_tune_cache.c — libFuzzer entry for the tuning-cache reader
 * (the JSON file in $XDG_CACHE_HOME/kiln/tune/, which is input: any bytes).
 *
 * The input is parsed from an exactly sized heap copy (no terminator, so ASan
 * sees a read past it) for the device key "cpu-fuzz"; an accepted file's
 * entries must have specs that parse and classes with a band. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autotune/tune_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    struct kiln_tune_cache c = {0};
    if (kiln_tune_cache_parse("cpu-fuzz", copy, size, &c) == KILN_OK) {
        for (size_t i = 0; i < c.n; i++) {
            kiln_spec s;
            if (kiln_spec_parse(c.e[i].r.tuned_spec, &s) != KILN_OK) abort();
            if (!strstr(c.e[i].r.shape_class, " | ")) abort();
            if (strlen(c.e[i].base_key) >= sizeof c.e[i].base_key) abort();
        }
    }
    kiln_tune_cache_clear(&c);
    free(copy);
    return 0;
}
