/* tests/fuzz/fuzz_spec.c — libFuzzer entry for the kernel spec parser (the
 * text kiln-gen --spec, the tuning cache and the manifest carry).
 *
 * The input, as a terminated string, is parsed; a spec that parses must
 * validate, print, and parse back to the same spec (the canonical text is
 * what the caches are keyed by), and its procedural name must fit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    kiln_spec s, back;
    if (kiln_spec_parse(text, &s) == KILN_OK) {
        char canon[KILN_SPEC_TEXT_MAX], name[KILN_SPEC_NAME_MAX];
        if (kiln_spec_validate(&s) != KILN_OK) abort();
        int n = kiln_spec_to_text(&s, canon, sizeof canon);
        if (n < 0 || (size_t)n >= sizeof canon) abort();
        if (kiln_spec_parse(canon, &back) != KILN_OK || !kiln_spec_equal(&s, &back)) abort();
        if (kiln_spec_name(&s, name, sizeof name) < 0) abort();
    }
    free(text);
    return 0;
}
