/* demo/cmd_quantize.c — `kiln quantize IN.gguf OUT.gguf TYPE`: every matrix
 * converted to TYPE (norms stay f32); matrices whose rows do not fit TYPE's
 * blocks fall back to a type that fits, and the command says which. */
#include <stdio.h>
#include <string.h>

#include "demo/commands.h"
#include "kiln/runtime.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: kiln quantize IN.gguf OUT.gguf TYPE\n\nTYPE:");
    /* every weight format GGUF defines (kiln's private ids start at 1024), in table order */
    const char *sep = " ";
    for (int t = 0; t < KILN_DTYPE_COUNT; t++) {
        const kiln_dtype_info *d = kiln_dtype_get((kiln_dtype)t);
        if (!d->is_weight_format || d->ggml_type >= 1024) continue;
        fprintf(f, "%s%s", sep, d->name);
        sep = ", ";
    }
    fprintf(f, "\nThe vocabulary and metadata are kept. Rows that do not fit TYPE's block size\n"
               "fall back to a smaller block (K-quants -> q5_0/q5_1/q8_0) or to f16.\n");
}

static void print_note(void *user, const char *msg)
{
    (void)user;
    fprintf(stderr, "kiln quantize: %s\n", msg);
}

int kiln_cmd_quantize(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc != 4) {
        usage(stderr);
        return 2;
    }
    int type = kiln_dtype_from_name(argv[3]);
    if (type < 0) {
        fprintf(stderr, "kiln quantize: unknown type '%s'\n\n", argv[3]);
        usage(stderr);
        return 2;
    }
    kiln_model *m = NULL;
    if (kiln_model_load(argv[1], &m) || kiln_model_save_gguf(m, argv[2], type, print_note, NULL)) {
        fprintf(stderr, "kiln quantize: %s\n", kiln_last_error());
        kiln_model_free(m);
        return 1;
    }
    fprintf(stderr, "kiln quantize: wrote %s as %s\n", argv[2], argv[3]);
    kiln_model_free(m);
    return 0;
}
