/* demo/cmd_convert.c — `kiln convert IN OUT.gguf`: a llama2.c checkpoint (or
 * any model kiln loads) written as a llama-architecture GGUF, f32 as it was. */
#include <stdio.h>
#include <string.h>

#include "demo/commands.h"
#include "kiln/runtime.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: kiln convert IN.bin OUT.gguf\n\n"
               "Converts a llama2.c checkpoint to GGUF (llama architecture, tensors as stored, no\n"
               "vocabulary: llama2.c keeps it in a separate file). IN may also be a GGUF file or\n"
               "synthetic:PRESET-TYPE; to change weight types use `kiln quantize`.\n");
}

static void print_note(void *user, const char *msg)
{
    (void)user;
    fprintf(stderr, "kiln convert: %s\n", msg);
}

int kiln_cmd_convert(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc != 3) {
        usage(stderr);
        return 2;
    }
    kiln_model *m = NULL;
    if (kiln_model_load(argv[1], &m) || kiln_model_save_gguf(m, argv[2], -1, print_note, NULL)) {
        fprintf(stderr, "kiln convert: %s\n", kiln_last_error());
        kiln_model_free(m);
        return 1;
    }
    const kiln_model_config *c = kiln_model_get_config(m);
    fprintf(stderr, "kiln convert: wrote %s (%d layers, dim %d, vocab %d, %.1f MiB of weights)\n", argv[2],
            c->n_layers, c->dim, c->n_vocab, (double)kiln_model_weight_bytes(m) / (1 << 20));
    kiln_model_free(m);
    return 0;
}
