/* tests/test_models_fetched.c — the files `make models` fetched are where
 * kt_model_path says, and usable: SmolLM2's vocabulary loads from its GGUF. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/runtime.h"
#include "support/models.h"

Test(models, smollm2_vocabulary_loads)
{
    char why[768], *path = kt_model_path("smollm2", why, sizeof why);
    if (!path) cr_skip_test("%s", why);
    kiln_gguf *g = NULL;
    cr_assert_eq(kiln_gguf_open(path, &g), KILN_OK, "%s: %s", path, kiln_last_error());
    kiln_tokenizer *t = NULL;
    cr_assert_eq(kiln_tokenizer_from_gguf(g, &t), KILN_OK, "%s", kiln_last_error());
    cr_expect_eq(kiln_tokenizer_vocab_size(t), 49152);
    kiln_tokenizer_free(t);
    kiln_gguf_close(g);
    free(path);
}

Test(models, unknown_name_is_a_reason_not_a_path)
{
    char why[768];
    cr_assert_null(kt_model_path("no-such-model", why, sizeof why));
    cr_expect(strstr(why, "no-such-model") != NULL, "%s", why);
}
